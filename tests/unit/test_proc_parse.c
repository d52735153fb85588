/* The /proc and sysfs parsers on files captured from real machines (tests/unit/data/proc:
 * *.vm from a 2-vCPU Linux VM) and on trimmed copies of other machines' files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "node/proc_parse.h"

static char *sample(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/proc/%s", HERD_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void stat_sample_parses(void **state)
{
    (void)state;
    char *text = sample("stat.vm");
    struct cpu_times t;
    assert_int_equal(proc_stat_parse(text, &t), 0);
    /* "cpu  418388 0 272314 5181766 1684 0 7810 0 0 0": the aggregate line, not cpu0. */
    assert_int_equal(t.user, 418388);
    assert_int_equal(t.system, 272314);
    assert_int_equal(t.idle, 5181766);
    assert_int_equal(t.iowait, 1684);
    assert_int_equal(t.softirq, 7810);
    free(text);
    assert_int_equal(proc_stat_parse("cpu0 1 2 3 4\n", &t), -EINVAL);
    assert_int_equal(proc_stat_parse("cpu  1 2\n", &t), -EINVAL);
    assert_int_equal(proc_stat_parse("", &t), -EINVAL);
}

static void cpu_busy_from_deltas(void **state)
{
    (void)state;
    struct cpu_times a = {.user = 100, .system = 50, .idle = 800, .iowait = 50};
    struct cpu_times b = a;
    b.user += 30;
    b.system += 10;
    b.idle += 50;
    b.iowait += 10; /* iowait is idle time */
    assert_float_equal(cpu_busy_pct(&a, &b), 40.0, 1e-9);
    b = a;
    b.steal += 25; /* time the hypervisor took counts as busy */
    b.idle += 75;
    assert_float_equal(cpu_busy_pct(&a, &b), 25.0, 1e-9);
    assert_float_equal(cpu_busy_pct(&a, &a), -1.0, 0); /* no time passed */
    b = a;
    b.idle -= 10; /* a CPU went offline: counters went backwards */
    b.user += 100;
    assert_float_equal(cpu_busy_pct(&a, &b), -1.0, 0);
}

static void meminfo_with_and_without_memavailable(void **state)
{
    (void)state;
    char *text = sample("meminfo.vm");
    struct meminfo m;
    assert_int_equal(proc_meminfo_parse(text, &m), 0);
    assert_int_equal(m.total_kb, 24683620);
    assert_true(m.has_available);
    assert_int_equal(meminfo_available_kb(&m), 24323500);
    free(text);

    text = sample("meminfo.old"); /* a kernel before 3.14 */
    assert_int_equal(proc_meminfo_parse(text, &m), 0);
    assert_false(m.has_available);
    /* free 1000000 + buffers 200000 + (cached 2000000 - shmem 300000) + reclaimable 100000 */
    assert_int_equal(meminfo_available_kb(&m), 3000000);
    free(text);

    assert_int_equal(proc_meminfo_parse("MemFree: 12 kB\n", &m), -EINVAL);
}

static void psi_samples(void **state)
{
    (void)state;
    struct psi p;
    char *text = sample("pressure_memory.vm");
    assert_int_equal(proc_psi_parse(text, &p), 0);
    assert_float_equal(p.some_avg10, 0, 0);
    free(text);
    text = sample("pressure_memory.busy");
    assert_int_equal(proc_psi_parse(text, &p), 0);
    assert_float_equal(p.some_avg10, 45.5, 1e-9);
    assert_float_equal(p.some_avg60, 30.25, 1e-9);
    assert_float_equal(p.full_avg10, 3.0, 1e-9);
    free(text);
    assert_int_equal(proc_psi_parse("full avg10=1.00 avg60=1.00\n", &p), -EINVAL);
    assert_int_equal(proc_psi_parse("some avg10=x avg60=1\n", &p), -EINVAL);
}

static struct meminfo mem_used(double pct)
{
    struct meminfo m = {.total_kb = 1000000, .has_available = true};
    m.available_kb = (uint64_t)(1000000 * (100 - pct) / 100);
    return m;
}

static void pressure_classification(void **state)
{
    (void)state;
    struct psi calm = {0}, some_warn = {.some_avg10 = 10}, full_warn = {.full_avg10 = 2},
               some_crit = {.some_avg10 = 40}, full_crit = {.full_avg10 = 10};
    struct meminfo half = mem_used(50);
    /* With PSI, stalls decide, not how full memory is (caches fill it on a healthy machine). */
    assert_int_equal(mem_pressure_classify(&half, &calm), MEM_PRESSURE_NORMAL);
    struct meminfo full_of_cache = mem_used(96);
    assert_int_equal(mem_pressure_classify(&full_of_cache, &calm), MEM_PRESSURE_NORMAL);
    assert_int_equal(mem_pressure_classify(&half, &some_warn), MEM_PRESSURE_WARN);
    assert_int_equal(mem_pressure_classify(&half, &full_warn), MEM_PRESSURE_WARN);
    assert_int_equal(mem_pressure_classify(&half, &some_crit), MEM_PRESSURE_CRITICAL);
    assert_int_equal(mem_pressure_classify(&half, &full_crit), MEM_PRESSURE_CRITICAL);
    struct meminfo nearly_out = mem_used(98.5);
    assert_int_equal(mem_pressure_classify(&nearly_out, &calm), MEM_PRESSURE_CRITICAL);
    /* Without PSI, thresholds on memory in use. */
    struct meminfo m84 = mem_used(84), m85 = mem_used(85), m94 = mem_used(94), m95 = mem_used(95);
    assert_int_equal(mem_pressure_classify(&m84, NULL), MEM_PRESSURE_NORMAL);
    assert_int_equal(mem_pressure_classify(&m85, NULL), MEM_PRESSURE_WARN);
    assert_int_equal(mem_pressure_classify(&m94, NULL), MEM_PRESSURE_WARN);
    assert_int_equal(mem_pressure_classify(&m95, NULL), MEM_PRESSURE_CRITICAL);
    assert_string_equal(mem_pressure_name(MEM_PRESSURE_NORMAL), "normal");
    assert_string_equal(mem_pressure_name(MEM_PRESSURE_WARN), "warn");
    assert_string_equal(mem_pressure_name(MEM_PRESSURE_CRITICAL), "critical");
}

static void cpuinfo_samples(void **state)
{
    (void)state;
    struct cpuinfo c;
    char *text = sample("cpuinfo.vm");
    assert_int_equal(proc_cpuinfo_parse(text, &c), 0);
    assert_int_equal(c.logical, 2);
    assert_int_equal(c.physical, 2);
    assert_string_equal(c.model, "AMD EPYC");
    free(text);

    text = sample("cpuinfo.ht"); /* 4 cores, 2 threads each */
    assert_int_equal(proc_cpuinfo_parse(text, &c), 0);
    assert_int_equal(c.logical, 8);
    assert_int_equal(c.physical, 4);
    assert_string_equal(c.model, "13th Gen Intel(R) Core(TM) i7-13700K");
    free(text);

    text = sample("cpuinfo.2socket"); /* core ids repeat across sockets */
    assert_int_equal(proc_cpuinfo_parse(text, &c), 0);
    assert_int_equal(c.logical, 4);
    assert_int_equal(c.physical, 4);
    free(text);

    text = sample("cpuinfo.rpi4"); /* no topology, no model name */
    assert_int_equal(proc_cpuinfo_parse(text, &c), 0);
    assert_int_equal(c.logical, 4);
    assert_int_equal(c.physical, 4);
    assert_string_equal(c.model, "Raspberry Pi 4 Model B Rev 1.4");
    free(text);

    assert_int_equal(proc_cpuinfo_parse("model name : x\n", &c), -EINVAL);
    /* Garbled: more distinct cores than processor lines (found by fuzzing). */
    assert_int_equal(proc_cpuinfo_parse("processor : 0\nphysical id : 0\ncore id : 0\n\n"
                                        "physical id : 0\ncore id : 1\n\n",
                                        &c),
                     0);
    assert_int_equal(c.logical, 1);
    assert_int_equal(c.physical, 1);
}

static void temperatures(void **state)
{
    (void)state;
    double t;
    assert_int_equal(sysfs_temp_parse("45000\n", &t), 0);
    assert_float_equal(t, 45.0, 1e-9);
    assert_int_equal(sysfs_temp_parse("-5500\n", &t), 0);
    assert_float_equal(t, -5.5, 1e-9);
    assert_int_equal(sysfs_temp_parse("hot\n", &t), -EINVAL);
    assert_int_equal(sysfs_temp_parse("45000 x\n", &t), -EINVAL);

    struct temp_reading r[] = {
        {"acpitz", 70}, {"nvme", 80}, {"coretemp", 60}, {"k10temp", 65}, {"broken", 250}};
    /* The hottest CPU sensor stands for the machine, not a hotter disk. */
    assert_string_equal(temp_pick(r, 5)->source, "k10temp");
    /* Without a CPU sensor, the hottest plausible one. */
    assert_string_equal(temp_pick(r, 2)->source, "nvme");
    struct temp_reading bad[] = {{"broken", 250}, {"unplugged", -273}};
    assert_null(temp_pick(bad, 2));
    assert_null(temp_pick(r, 0));
    assert_string_equal(thermal_state(84.9), "nominal");
    assert_string_equal(thermal_state(85), "warning");
}

static void pid_stat_samples(void **state)
{
    (void)state;
    char comm[64];
    uint64_t ut, st;
    char *text = sample("pid_stat.vm");
    assert_int_equal(proc_pid_stat_parse(text, comm, sizeof comm, &ut, &st), 0);
    assert_string_equal(comm, "cat");
    free(text);
    text = sample("pid_stat.odd"); /* a name with spaces and parentheses */
    assert_int_equal(proc_pid_stat_parse(text, comm, sizeof comm, &ut, &st), 0);
    assert_string_equal(comm, "ollama (x) y");
    assert_int_equal(ut, 1500);
    assert_int_equal(st, 250);
    free(text);
    assert_int_equal(proc_pid_stat_parse("12 (short) S 1 2\n", comm, sizeof comm, &ut, &st),
                     -EINVAL);
    assert_int_equal(proc_pid_stat_parse("12 no-parens\n", comm, sizeof comm, &ut, &st), -EINVAL);
}

static void environ_values(void **state)
{
    (void)state;
    static const char env[] = "HOME=/root\0OLLAMA_NUM_PARALLEL=4\0OLLAMA_NUM=9\0TAIL=cut";
    assert_string_equal(environ_lookup(env, sizeof env - 1, "OLLAMA_NUM_PARALLEL"), "4");
    assert_string_equal(environ_lookup(env, sizeof env - 1, "OLLAMA_NUM"), "9");
    assert_null(environ_lookup(env, sizeof env - 1, "OLLAMA"));
    assert_null(environ_lookup(env, sizeof env - 1, "TAIL")); /* not NUL-terminated */
    assert_null(environ_lookup(env, 0, "HOME"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_sample_parses),
        cmocka_unit_test(cpu_busy_from_deltas),
        cmocka_unit_test(meminfo_with_and_without_memavailable),
        cmocka_unit_test(psi_samples),
        cmocka_unit_test(pressure_classification),
        cmocka_unit_test(cpuinfo_samples),
        cmocka_unit_test(temperatures),
        cmocka_unit_test(pid_stat_samples),
        cmocka_unit_test(environ_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
