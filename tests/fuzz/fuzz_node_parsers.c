/* Feeds herd-node's parsers arbitrary bytes: the /proc and sysfs parsers (files a hostile
 * process cannot write, but a kernel may format unexpectedly), Ollama's answers (network), and
 * DNS-SD TXT data (any host on the LAN). The first byte picks the parser. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/mdns_txt.h"
#include "common/ollama_state.h"
#include "node/proc_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0];
    data++;
    size--;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char buf[256], err[128];
    json_t *out = NULL;
    switch (which % 10) {
    case 0: {
        struct cpu_times a, b = {0};
        if (proc_stat_parse(text, &a) == 0) {
            double p = cpu_busy_pct(&b, &a);
            if (p != -1 && (p < 0 || p > 100))
                abort();
        }
        break;
    }
    case 1: {
        struct meminfo m;
        if (proc_meminfo_parse(text, &m) == 0) {
            if (meminfo_available_kb(&m) > m.total_kb)
                abort();
            mem_pressure_classify(&m, NULL);
        }
        break;
    }
    case 2: {
        struct psi p;
        proc_psi_parse(text, &p);
        break;
    }
    case 3: {
        struct cpuinfo c;
        if (proc_cpuinfo_parse(text, &c) == 0 && (c.physical < 1 || c.physical > c.logical))
            abort();
        break;
    }
    case 4: {
        uint64_t u, s;
        proc_pid_stat_parse(text, buf, sizeof buf, &u, &s);
        break;
    }
    case 5:
        environ_lookup(text, size, "OLLAMA_NUM_PARALLEL");
        break;
    case 6:
        if (ollama_parse_ps(text, size, &out, err, sizeof err) == 0 && !json_is_array(out))
            abort();
        break;
    case 7:
        if (ollama_parse_tags(text, size, &out, err, sizeof err) == 0 && !json_is_array(out))
            abort();
        break;
    case 8:
        ollama_parse_version(text, size, buf, sizeof buf);
        break;
    default:
        if (mdns_txt_get(data, size, "tls", buf, sizeof buf) && strlen(buf) >= sizeof buf)
            abort();
        break;
    }
    json_decref(out);
    free(text);
    return 0;
}
