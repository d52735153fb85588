#!/usr/bin/python3
"""Browses a DNS-SD service type with python-zeroconf (an mDNS implementation independent of
herd's) and prints one JSON line per event until killed: {"event": "added" | "updated" |
"removed", "name", and for added/updated the resolved "addresses", "port", "server",
"properties"}. Usage: zeroconf_browse.py INTERFACE_ADDRESS [TYPE]"""
import json
import sys
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

ADDR = sys.argv[1]
TYPE = sys.argv[2] if len(sys.argv) > 2 else "_fleet-manager._tcp.local."


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Listener(ServiceListener):
    def resolved(self, zc, type_, name, event):
        info = zc.get_service_info(type_, name, timeout=3000)
        if info is None:
            emit(event=event, name=name, resolved=False)
            return
        emit(event=event, name=name, resolved=True, addresses=info.parsed_addresses(),
             port=info.port, server=info.server,
             properties={k.decode(): (v.decode() if v is not None else None)
                         for k, v in info.properties.items()})

    def add_service(self, zc, type_, name):
        self.resolved(zc, type_, name, "added")

    def update_service(self, zc, type_, name):
        self.resolved(zc, type_, name, "updated")

    def remove_service(self, zc, type_, name):
        emit(event="removed", name=name)


zc = Zeroconf(interfaces=[ADDR], ip_version=IPVersion.V4Only)
browser = ServiceBrowser(zc, TYPE, Listener())
emit(event="ready")
try:
    while True:
        time.sleep(0.2)
finally:
    zc.close()
