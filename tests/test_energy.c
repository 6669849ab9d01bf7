/*
 * test_energy.c - the CPU energy meter over a fake powercap tree (AUTOGLM_POWERCAP_ROOT): package
 * zones are summed, sub-zones ignored, a counter wrap-around is followed, and a machine without
 * powercap reports "unavailable" (NULL); the power modes' GPU power limits and a machine without NVML.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "autoglm/autoglm.h"
#include "test.h"

static char root[512];

static void put(const char *zone, const char *file, unsigned long long v) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, zone);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, zone, file);
    FILE *f = fopen(path, "w");
    fprintf(f, "%llu\n", v);
    fclose(f);
}

/* The fake tree goes when every check so far passed (kept for a look when one failed); remove()
 * takes the files, then the emptied folders. */
static void remove_tree(void) {
    static const char *const entries[] = {"intel-rapl:0/energy_uj", "intel-rapl:0/max_energy_range_uj",
                                          "intel-rapl:1/energy_uj", "intel-rapl:1/max_energy_range_uj",
                                          "intel-rapl:0:0/energy_uj", "intel-rapl:0", "intel-rapl:1",
                                          "intel-rapl:0:0", ""};
    char path[1024];
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        snprintf(path, sizeof path, "%s/%s", root, entries[i]);
        remove(path);
    }
}

static void test_meter(void) {
    const char *dir = getenv("AUTOGLM_TEST_TMP");
    snprintf(root, sizeof root, "%s/powercap_%d", dir ? dir : "/tmp", (int)getpid());
    mkdir(root, 0755);
    put("intel-rapl:0", "energy_uj", 1000000);
    put("intel-rapl:0", "max_energy_range_uj", 10000000);
    put("intel-rapl:1", "energy_uj", 500);
    put("intel-rapl:1", "max_energy_range_uj", 10000000);
    put("intel-rapl:0:0", "energy_uj", 123456789); /* a sub-zone (core): not counted */
    setenv("AUTOGLM_POWERCAP_ROOT", root, 1);
    ag_energy *e = ag_energy_open();
    CHECK(e != NULL);
    CHECK_NEAR(ag_energy_joules(e), 0.0, 1e-9);
    put("intel-rapl:0", "energy_uj", 3500000); /* +2.5 J */
    put("intel-rapl:1", "energy_uj", 1000500); /* +1 J */
    CHECK_NEAR(ag_energy_joules(e), 3.5, 1e-9);
    put("intel-rapl:0", "energy_uj", 500000); /* wrapped: +6.5 J to the range, +0.5 J after */
    CHECK_NEAR(ag_energy_joules(e), 10.5, 1e-9);
    ag_energy_close(e);

    setenv("AUTOGLM_POWERCAP_ROOT", "/nonexistent/powercap", 1);
    ag_energy *none = ag_energy_open(); /* no CPU zones: a GPU's counter (NVML) or nothing */
    CHECK(none == NULL || ag_energy_gpu_joules(none) >= 0);
    ag_energy_close(none);
    CHECK(ag_energy_joules(NULL) < 0);
    unsetenv("AUTOGLM_POWERCAP_ROOT");
    if (ag_test_failures == 0)
        remove_tree();
    else
        fprintf(stderr, "test folder kept: %s\n", root);
}

/* The power modes' GPU power limits (NVML is not needed for the choice), and a missing GPU. */
static void test_gpu_limits(void) {
    CHECK_NEAR(ag_gpu_power_limit_for_mode(AG_POWER_PERFORMANCE, 700, 200, 700), 700, 1e-9);
    CHECK_NEAR(ag_gpu_power_limit_for_mode(AG_POWER_BALANCED, 700, 200, 700), 525, 1e-9);
    CHECK_NEAR(ag_gpu_power_limit_for_mode(AG_POWER_POWERSAVE, 700, 200, 700), 350, 1e-9);
    CHECK_NEAR(ag_gpu_power_limit_for_mode(AG_POWER_POWERSAVE, 300, 200, 300), 200, 1e-9); /* clamped to the minimum */
    ag_error err = {0};
    CHECK(ag_gpu_monitor_set_power_mode(NULL, AG_POWER_POWERSAVE, NULL, &err) == AG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "GPU power limit: no NVIDIA GPU") != NULL);
    CHECK(ag_gpu_monitor_can_set(NULL, &err) == AG_ERR_UNSUPPORTED);
    ag_gpu_reading r;
    CHECK(!ag_gpu_monitor_read(NULL, 0, &r) && ag_gpu_monitor_count(NULL) == 0);
    ag_gpu_monitor_close(NULL);
    setenv("AUTOGLM_NO_NVML", "1", 1);
    CHECK(ag_gpu_monitor_open() == NULL);
    unsetenv("AUTOGLM_NO_NVML");
}

TEST_MAIN(TEST(test_meter), TEST(test_gpu_limits))
