/*
 * test_energy.c - the CPU energy meter over a fake powercap tree (AUTOGLM_POWERCAP_ROOT): package
 * zones are summed, sub-zones ignored, a counter wrap-around is followed, and a machine without
 * powercap reports "unavailable" (NULL).
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
    CHECK(ag_energy_open() == NULL);
    CHECK(ag_energy_joules(NULL) < 0);
    unsetenv("AUTOGLM_POWERCAP_ROOT");
}

TEST_MAIN(TEST(test_meter))
