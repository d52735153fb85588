#!/usr/bin/python3
"""Registers a _fleet-manager._tcp service with python-zeroconf and answers POST /heartbeat on
the advertised address, printing one JSON line per event until killed: {"event": "registered",
"port"} then {"event": "heartbeat", "node_id", "draining"}.
Usage: zeroconf_register.py INTERFACE_ADDRESS INSTANCE_NAME"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from zeroconf import IPVersion, ServiceInfo, Zeroconf

ADDR, NAME = sys.argv[1], sys.argv[2]
TYPE = "_fleet-manager._tcp.local."


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        beat = json.loads(body)
        emit(event="heartbeat", path=self.path, node_id=beat.get("node_id"),
             draining=beat.get("draining", False))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, *args):
        pass


server = HTTPServer((ADDR, 0), Handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
zc = Zeroconf(interfaces=[ADDR], ip_version=IPVersion.V4Only)
info = ServiceInfo(TYPE, f"{NAME}.{TYPE}", addresses=[socket.inet_aton(ADDR)], port=port,
                   properties={"version": "python-zeroconf"}, server="zeroconf-test.local.")
zc.register_service(info)
emit(event="registered", port=port)
try:
    while True:
        time.sleep(0.2)
finally:
    zc.unregister_service(info)
    zc.close()
