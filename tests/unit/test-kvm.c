/* Unit tests of the kvm driver without libvirtd: its XML as libvirt's own parser reads it (the
 * in-process test driver; NICs on a libvirt network or on hvd's bridge), the state mapping,
 * statistics records, and the driver's operations and all-domain statistics on test:///default. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include "kvm-driver.h"
#include "kvm-internal.h"
#include "kvm-state.h"
#include "kvm-xml.h"
#include "test.h"
#include "time-util.h"

static DomainConfig config(const char *name, DomainMode mode)
{
    DomainConfig c;

    domain_config_init(&c);
    (void)snprintf(c.name, sizeof(c.name), "%s", name);
    (void)domain_uuid_generate(c.uuid);
    c.mode = mode;
    c.vcpus = 2;
    c.kernel = strdup("/boot/we<ird> & 'dir'/vmlinuz");
    c.initrd = strdup("/boot/initrd&1.img");
    c.cmdline = strdup("console=ttyS0 a<b & c=\"d\" 'e' </cmdline>");
    c.disk = strdup("/var/lib/images/disk&1.img");
    c.network = strdup("default");
    c.cpuset = strdup("0,1");
    return c;
}

/* Defines the XML for c in libvirt's test driver and returns libvirt's own rendering of it. */
static char *through_libvirt(virConnectPtr conn, const DomainConfig *c)
{
    KvmXmlOptions o = {.domain_type = "qemu",
                       .console_log = "/var/lib/hvd/consoles/x&y.log",
                       .vnc_socket = "/run/hvd/vnc/x&y.sock"};
    char *xml = NULL, *back = NULL;
    virDomainPtr dom;

    CHECK(kvm_xml_build(c, &o, &xml) == 0);
    dom = virDomainDefineXML(conn, xml);
    if (!dom)
        fprintf(stderr, "libvirt refused:\n%s\n%s\n", xml, virGetLastErrorMessage());
    CHECK(dom != NULL);
    if (dom) {
        back = virDomainGetXMLDesc(dom, 0);
        (void)virDomainUndefine(dom);
        (void)virDomainFree(dom);
    }
    free(xml);
    return back;
}

static void test_xml(void)
{
    virConnectPtr conn = virConnectOpen("test:///default");
    DomainConfig full = config("full1", MODE_FULL), pv = config("pv1", MODE_PV);
    char *x;

    CHECK(conn != NULL);
    full.cpu_weight = 300;
    full.cpu_cap = 150;
    full.memory_limit = 512;
    x = through_libvirt(conn, &full);
    /* Resource settings, as libvirt kept them. */
    CHECK_CONTAINS(x, "<shares>300</shares>");
    CHECK_CONTAINS(x, "<global_period>100000</global_period>");
    CHECK_CONTAINS(x, "<global_quota>150000</global_quota>");
    CHECK_CONTAINS(x, "<hard_limit unit='KiB'>524288</hard_limit>");
    CHECK_CONTAINS(x, "<kernel>/boot/we&lt;ird&gt; &amp; &apos;dir&apos;/vmlinuz</kernel>");
    CHECK_CONTAINS(x, "<cmdline>console=ttyS0 a&lt;b &amp; c=&quot;d&quot; &apos;e&apos; "
                      "&lt;/cmdline&gt;</cmdline>");
    CHECK_CONTAINS(x, "<initrd>/boot/initrd&amp;1.img</initrd>");
    CHECK_CONTAINS(x, "<source file='/var/lib/images/disk&amp;1.img'/>");
    CHECK_CONTAINS(x, "<target dev='hda' bus='ide'/>");
    CHECK_CONTAINS(x, "<model type='e1000'/>");
    CHECK_CONTAINS(x, "<memballoon model='none'/>");
    CHECK_CONTAINS(x, "<target type='isa-serial' port='0'/>");
    CHECK_CONTAINS(x, "<log file='/var/lib/hvd/consoles/x&amp;y.log' append='on'/>");
    CHECK_CONTAINS(x, "<vcpupin vcpu='1' cpuset='1'/>");
    CHECK_CONTAINS(x, "<on_crash>preserve</on_crash>");
    /* The display: VNC on a unix socket only, and a VGA card. */
    CHECK_CONTAINS(x, "<listen type='socket' socket='/run/hvd/vnc/x&amp;y.sock'/>");
    CHECK_CONTAINS(x, "<model type='vga'");
    CHECK(x && !strstr(x, "autoport") && !strstr(x, "<graphics type='vnc' port"));
    CHECK(x && !strstr(x, "virtio"));
    free(x);

    x = through_libvirt(conn, &pv);
    CHECK_CONTAINS(x, "<shares>100</shares>");
    CHECK(x && !strstr(x, "global_quota") && !strstr(x, "memtune"));
    CHECK_CONTAINS(x, "<target dev='vda' bus='virtio'/>");
    CHECK_CONTAINS(x, "<model type='virtio'/>");
    CHECK_CONTAINS(x, "<target type='virtio' port='0'/>");
    CHECK_CONTAINS(x, "<memballoon model='virtio'>");
    CHECK_CONTAINS(x, "<target type='isa-serial' port='0'/>");
    free(x);

    /* Without a kernel it boots from the disk; without a network it has no NIC. */
    full.kernel = mfree(full.kernel);
    full.initrd = mfree(full.initrd);
    full.network = mfree(full.network);
    x = through_libvirt(conn, &full);
    CHECK_CONTAINS(x, "<boot dev='hd'/>");
    CHECK(x && !strstr(x, "<interface") && !strstr(x, "<kernel>") && !strstr(x, "<initrd>"));
    free(x);

    domain_config_done(&full);
    domain_config_done(&pv);
    (void)virConnectClose(conn);
}

/* On an hvd network the NIC is on hvd's bridge with the lease's MAC, the model by mode; any
 * other network name stays a libvirt network. */
static void test_xml_bridge(void)
{
    virConnectPtr conn = virConnectOpen("test:///default");
    DomainConfig full = config("netfull", MODE_FULL), pv = config("netpv", MODE_PV);
    const DomainNic nic = {.bridge = "hvdbr3", .mac = "02:12:34:56:78:9a", .ipv4 = "10.5.0.2"};
    char *x;

    CHECK(conn != NULL);
    full.nic = pv.nic = nic;
    x = through_libvirt(conn, &full);
    CHECK_CONTAINS(x, "<interface type='bridge'>");
    CHECK_CONTAINS(x, "<source bridge='hvdbr3'/>");
    CHECK_CONTAINS(x, "<mac address='02:12:34:56:78:9a'/>");
    CHECK_CONTAINS(x, "<model type='e1000'/>");
    CHECK(x && !strstr(x, "type='network'"));
    free(x);
    x = through_libvirt(conn, &pv);
    CHECK_CONTAINS(x, "<interface type='bridge'>");
    CHECK_CONTAINS(x, "<source bridge='hvdbr3'/>");
    CHECK_CONTAINS(x, "<model type='virtio'/>");
    free(x);

    pv.nic = (DomainNic){};
    x = through_libvirt(conn, &pv);
    CHECK_CONTAINS(x, "<interface type='network'>");
    CHECK_CONTAINS(x, "<source network='default'");
    CHECK(x && !strstr(x, "hvdbr3"));
    free(x);

    domain_config_done(&full);
    domain_config_done(&pv);
    (void)virConnectClose(conn);
}

static void test_text_validity(void)
{
    CHECK(kvm_xml_text_is_valid("plain <&>'\" text, ümlaut"));
    CHECK(!kvm_xml_text_is_valid("bell\a"));
    CHECK(!kvm_xml_text_is_valid("not a character: \xef\xbf\xbf"));
    CHECK(!kvm_xml_text_is_valid("\xef\xbf\xbe"));
}

static void expect_state(int vs, int vr, DomainState state, DomainReason reason)
{
    DomainState s;
    DomainReason r;

    kvm_state_from_libvirt(vs, vr, &s, &r, NULL);
    if (s != state || r != reason)
        fprintf(stderr, "libvirt %d/%d -> %s/%s, expected %s/%s\n", vs, vr,
                domain_state_to_string(s), domain_reason_to_string(r),
                domain_state_to_string(state), domain_reason_to_string(reason));
    CHECK(s == state && r == reason);
}

static void test_states(void)
{
    expect_state(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED, STATE_RUNNING, REASON_BOOTED);
    expect_state(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED, STATE_RUNNING, REASON_UNPAUSED);
    expect_state(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED, STATE_RUNNING, REASON_UNKNOWN);
    expect_state(VIR_DOMAIN_BLOCKED, 0, STATE_RUNNING, REASON_UNKNOWN);
    expect_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER, STATE_PAUSED, REASON_USER);
    expect_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR, STATE_PAUSED, REASON_UNKNOWN);
    expect_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_CRASHED, STATE_CRASHED, REASON_GUEST_FAULT);
    expect_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_STARTING_UP, STATE_STARTING, REASON_BOOTING);
    expect_state(VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER, STATE_STOPPING, REASON_SHUTDOWN);
    expect_state(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN, STATE_SHUTOFF, REASON_SHUTDOWN);
    expect_state(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED, STATE_SHUTOFF, REASON_DESTROYED);
    expect_state(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FAILED, STATE_SHUTOFF, REASON_FAILED);
    expect_state(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DAEMON, STATE_SHUTOFF, REASON_DAEMON);
    expect_state(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED, STATE_CRASHED, REASON_GUEST_FAULT);
    expect_state(VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED, STATE_CRASHED,
                 REASON_GUEST_FAULT);
    expect_state(VIR_DOMAIN_PMSUSPENDED, 0, STATE_PAUSED, REASON_UNKNOWN);

    /* Every libvirt state and reason lands on a reason hvd allows for the state, and a reason
     * hvd has no word for keeps libvirt's meaning in the detail. */
    for (int vs = 0; vs < 10; vs++)
        for (int vr = 0; vr < 20; vr++) {
            DomainState s;
            DomainReason r;
            const char *detail;

            kvm_state_from_libvirt(vs, vr, &s, &r, &detail);
            CHECK(domain_reason_valid_for_state(s, r));
        }
    {
        DomainState s;
        DomainReason r;
        const char *detail;

        kvm_state_from_libvirt(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR, &s, &r, &detail);
        CHECK_CONTAINS(detail, "I/O error");
    }
}

static void expect_event(int event, int detail, DomainState state, DomainReason reason)
{
    DomainState s;
    DomainReason r;
    const char *why;

    CHECK(kvm_state_from_event(event, detail, &s, &r, &why) == 1);
    if (s != state || r != reason)
        fprintf(stderr, "event %d/%d -> %s/%s, expected %s/%s\n", event, detail,
                domain_state_to_string(s), domain_reason_to_string(r),
                domain_state_to_string(state), domain_reason_to_string(reason));
    CHECK(s == state && r == reason);
}

/* Lifecycle events carry the state: the driver never asks libvirtd again on the loop. */
static void test_events(void)
{
    DomainState s;
    DomainReason r;
    const char *why;

    expect_event(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED, STATE_RUNNING,
                 REASON_BOOTED);
    expect_event(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED, STATE_PAUSED,
                 REASON_USER);
    expect_event(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED, STATE_RUNNING,
                 REASON_UNPAUSED);
    expect_event(VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST, STATE_STOPPING,
                 REASON_SHUTDOWN);
    expect_event(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN, STATE_SHUTOFF,
                 REASON_SHUTDOWN);
    expect_event(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED, STATE_SHUTOFF,
                 REASON_DESTROYED);
    expect_event(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED, STATE_SHUTOFF,
                 REASON_FAILED);
    expect_event(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED, STATE_CRASHED,
                 REASON_GUEST_FAULT);
    expect_event(VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED, STATE_CRASHED,
                 REASON_GUEST_FAULT);
    expect_event(VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED, STATE_RUNNING,
                 REASON_UNKNOWN);
    expect_event(VIR_DOMAIN_EVENT_STOPPED, 99, STATE_SHUTOFF, REASON_UNKNOWN);

    CHECK(kvm_state_from_event(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_IOERROR, &s,
                               &r, &why) == 1);
    CHECK(s == STATE_PAUSED && r == REASON_UNKNOWN);
    CHECK_CONTAINS(why, "I/O error");
    CHECK(kvm_state_from_event(VIR_DOMAIN_EVENT_DEFINED, 0, &s, &r, &why) == 0);
    CHECK(kvm_state_from_event(VIR_DOMAIN_EVENT_UNDEFINED, 0, &s, &r, &why) == 0);
}

static void test_stats_record(void)
{
    virTypedParameterPtr params = NULL;
    int n = 0, max = 0;
    virDomainStatsRecord rec;
    json_t *o;

    (void)virTypedParamsAddInt(&params, &n, &max, "state.state", VIR_DOMAIN_RUNNING);
    (void)virTypedParamsAddInt(&params, &n, &max, "state.reason", VIR_DOMAIN_RUNNING_BOOTED);
    (void)virTypedParamsAddULLong(&params, &n, &max, "cpu.time", 123456789);
    (void)virTypedParamsAddULLong(&params, &n, &max, "balloon.current", 65536);
    (void)virTypedParamsAddULLong(&params, &n, &max, "balloon.maximum", 131072);
    (void)virTypedParamsAddULLong(&params, &n, &max, "balloon.last-update", 17);
    (void)virTypedParamsAddUInt(&params, &n, &max, "vcpu.current", 2);
    (void)virTypedParamsAddULLong(&params, &n, &max, "vcpu.0.time", 1);
    rec = (virDomainStatsRecord){.dom = NULL, .params = params, .nparams = n};
    o = kvm_stats_from_record(&rec);
    CHECK(json_integer_value(json_object_get(o, "cpu_time_ns")) == 123456789);
    CHECK(json_integer_value(json_object_get(o, "memory_kib")) == 65536);
    CHECK(json_integer_value(json_object_get(o, "balloon_current_kib")) == 65536);
    CHECK(json_integer_value(json_object_get(o, "balloon_maximum_kib")) == 131072);
    CHECK(json_integer_value(json_object_get(o, "memory_max_kib")) == 131072);
    CHECK(json_integer_value(json_object_get(o, "balloon_last_update")) == 17);
    CHECK(json_integer_value(json_object_get(o, "vcpus")) == 2);
    CHECK_STREQ(json_string_value(json_object_get(o, "state")), "running");
    CHECK_STREQ(json_string_value(json_object_get(o, "reason")), "booted");
    CHECK(json_object_get(o, "vcpu_0_time") == NULL);
    json_decref(o);
    virTypedParamsFree(params, n);
}

/* The manager's side of the driver, recording what the driver reports. */
typedef struct Reports {
    unsigned completed;
    DomainAction last_op;
    bool last_failed;
    unsigned state_changes;
} Reports;

static void on_state(void *userdata, Driver *drv, const char *name, DomainState state,
                     DomainReason reason, const DomainRuntime *rt, const char *detail)
{
    ((Reports *)userdata)->state_changes++;
}

static void on_completed(void *userdata, Driver *drv, const char *name, DomainAction op,
                         const Error *e, const DomainRuntime *rt, DomainState observed)
{
    Reports *r = userdata;

    r->completed++;
    r->last_op = op;
    r->last_failed = e != NULL;
}

static void on_refreshed(void *userdata)
{
    (*(unsigned *)userdata)++;
}

/* Runs the loop for about ms milliseconds. */
static void run_for(sd_event *event, unsigned ms)
{
    uint64_t end = now_usec(CLOCK_MONOTONIC) + ms * USEC_PER_MSEC;

    while (now_usec(CLOCK_MONOTONIC) < end)
        (void)sd_event_run(event, 10 * 1000);
}

/* Runs the loop until the driver completed want operations in all (or a few seconds pass). */
static void wait_completed(sd_event *event, Reports *r, unsigned want)
{
    for (unsigned i = 0; i < 500 && r->completed < want; i++)
        (void)sd_event_run(event, 10 * 1000);
}

static void test_driver_on_test_uri(void)
{
    sd_event *event = NULL;
    Reports reports = {};
    char dir[] = "/tmp/test-kvm-XXXXXX", consoles[64], vnc[64];
    DriverContext ctx = {
        .state_dir = dir,
        .runtime_dir = dir,
        .events = {.domain_state = on_state, .op_completed = on_completed, .userdata = &reports},
    };
    DomainConfig c = config("unit1", MODE_PV), other = config("unknown", MODE_PV);
    DomainRuntime rt = {};
    DomainInfo info;
    DomainState state;
    DomainReason reason;
    unsigned refreshed = 0;
    json_t *host;
    ConfigSection section = {.name = (char *)"kvm", .origin = (char *)"test"};
    void *settings = NULL;
    Driver *drv = NULL;
    Error e = ERROR_NULL;
    json_t *stats = NULL;
    char *log = NULL;
    int fd = -EBADF;

    CHECK(mkdtemp(dir) != NULL);
    (void)snprintf(consoles, sizeof(consoles), "%s/consoles", dir);
    (void)snprintf(vnc, sizeof(vnc), "%s/vnc", dir);
    CHECK(sd_event_default(&event) >= 0);
    ctx.event = event;
    CHECK(config_section_add(&section, "uri", "test:///default", "test:1") == 0);
    CHECK(config_section_add(&section, "domain-type", "qemu", "test:2") == 0);
    CHECK(config_section_add(&section, "workers", "2", "test:3") == 0);
    CHECK(driver_settings_parse(&kvm_driver_ops, &section, &settings, &e) == 0);
    for (size_t i = 0; i < section.n_lines; i++) {
        free(section.lines[i].key);
        free(section.lines[i].value);
        free(section.lines[i].origin);
    }
    free(section.lines);
    section = (ConfigSection){.name = (char *)"kvm", .origin = (char *)"test"};
    CHECK(config_section_add(&section, "domain-type", "xen", "test.conf:7") == 0);
    CHECK(driver_settings_parse(&kvm_driver_ops, &section, &(void *){NULL}, &e) < 0);
    CHECK_CONTAINS(e.message,
                   "test.conf:7: domain-type must be 'auto', 'kvm' or 'qemu', got 'xen'");
    free(section.lines[0].key);
    free(section.lines[0].value);
    free(section.lines[0].origin);
    free(section.lines);
    e = ERROR_NULL;
    CHECK(driver_new(&kvm_driver_ops, &ctx, settings, &drv) == 0);
    CHECK(drv->available);

    CHECK(driver_validate(drv, &c, &e) == 0);
    free(c.kernel);
    c.kernel = strdup("relative/vmlinuz");
    CHECK(driver_validate(drv, &c, &e) < 0);
    CHECK_CONTAINS(e.message, "'kernel' must be an absolute path");
    free(c.kernel);
    c.kernel = strdup("/boot/vmlinuz");

    e = ERROR_NULL;
    CHECK(driver_start(drv, &c, &rt, 0, &e) == DRIVER_PENDING);
    wait_completed(event, &reports, 1);
    CHECK(reports.completed == 1 && reports.last_op == ACTION_START && !reports.last_failed);

    /* Statistics come from the driver's cache, which the start filled, saying how old they
     * are. */
    CHECK(driver_get_info(drv, &c, &rt, &info, 0, &e) == 0);
    CHECK(info.state == STATE_RUNNING);
    CHECK(json_is_integer(json_object_get(info.stats, "stats_age_ms")));
    CHECK(json_integer_value(json_object_get(info.stats, "stats_age_ms")) < DRIVER_STATS_STALE_MS);
    CHECK(json_is_false(json_object_get(info.stats, "stale")));
    json_decref(info.stats);

    /* Fresh numbers need no refresh. Older ones get one job however many ask, and each asker
     * hears once that it is done. */
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, &refreshed) == 1);
    run_for(event, 1100);
    CHECK(driver_refresh_stats(drv, NULL, on_refreshed, &refreshed) == 0);
    CHECK(driver_refresh_stats(drv, &c, on_refreshed, &refreshed) == 0);
    CHECK(work_queue_pending(kvm(drv)->jobs) == 1);
    CHECK(refreshed == 0);
    for (unsigned i = 0; i < 100 && refreshed < 2; i++)
        (void)sd_event_run(event, 10 * 1000);
    CHECK(refreshed == 2);
    run_for(event, 300); /* no second call of either */
    CHECK(refreshed == 2);
    CHECK(driver_refresh_stats(drv, NULL, on_refreshed, &refreshed) == 1);
    CHECK(driver_refresh_stats(drv, &c, NULL, NULL) == 1);

    /* Re-attaching answers from what the connection found and events kept up to date. */
    CHECK(driver_reattach(drv, &c, &rt, &state, &reason, 0, &e) == 1);
    CHECK(state == STATE_RUNNING);
    CHECK(driver_reattach(drv, &other, &rt, &state, &reason, 0, &e) == 0);
    CHECK_CONTAINS(e.message, "libvirt does not know it");
    e = ERROR_NULL;

    /* The test driver cannot say whether kvm is usable; the domain type is configured. */
    host = driver_host_info(drv);
    CHECK_STREQ(json_string_value(json_object_get(host, "domain_type")), "qemu");
    CHECK_STREQ(json_string_value(json_object_get(host, "domain_type_setting")), "qemu");
    CHECK(json_is_false(json_object_get(host, "kvm_usable")));
    CHECK_CONTAINS(json_string_value(json_object_get(host, "summary")),
                   "domain type qemu (configured; kvm unusable: libvirt reports: ");
    json_decref(host);

    /* All domains in one call: the test driver's own "test" domain and ours. */
    CHECK(driver_get_stats(drv, &stats, 0, &e) == 0);
    CHECK(json_is_object(json_object_get(stats, "unit1")));
    CHECK(json_object_get(json_object_get(stats, "unit1"), "cpu_time_ns") != NULL);
    CHECK(json_object_get(json_object_get(stats, "unit1"), "memory_kib") != NULL);
    CHECK(json_is_object(json_object_get(stats, "test")));
    json_decref(stats);

    /* libvirt's test driver runs no QEMU: the display's socket is not there, and hvd says so. */
    e = ERROR_NULL;
    CHECK(driver_graphics_open(drv, &c, &rt, &fd, 0, &e) < 0);
    CHECK_CONTAINS(e.message, "has no VNC display");
    e = ERROR_NULL;

    CHECK(driver_console_log(drv, &c, 0, &log, &e) == 0);
    CHECK(log && strneq(log, consoles, strlen(consoles)) && strstr(log, c.uuid));
    free(log);

    CHECK(driver_destroy(drv, &c, &rt, 0, &e) == DRIVER_PENDING);
    wait_completed(event, &reports, 2);
    CHECK(reports.last_op == ACTION_DESTROY && !reports.last_failed);
    /* libvirt's events for the domain arrive too, after each completion. */
    for (unsigned i = 0; i < 50 && reports.state_changes == 0; i++)
        (void)sd_event_run(event, 10 * 1000);
    CHECK(reports.state_changes > 0);
    CHECK(driver_get_info(drv, &c, &rt, &info, 0, &e) < 0);
    CHECK_CONTAINS(e.message, "libvirt does not run 'unit1'");

    /* Starting made the domain's socket directory; deleting it removes that. */
    e = ERROR_NULL;
    CHECK(driver_undefine(drv, &c, 0, &e) >= 0);
    for (unsigned i = 0; i < 50; i++)
        (void)sd_event_run(event, 10 * 1000);
    driver_free(drv);
    domain_config_done(&c);
    domain_config_done(&other);
    sd_event_unref(event);
    CHECK(rmdir(consoles) == 0 && rmdir(vnc) == 0 && rmdir(dir) == 0);
}

int main(void)
{
    test_xml();
    test_xml_bridge();
    test_text_validity();
    test_states();
    test_events();
    test_stats_record();
    test_driver_on_test_uri();
    return test_summary("test-kvm");
}
