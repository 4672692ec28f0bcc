/* CMOS RTC (MC146818): time and date registers, status A-D, alarm and general CMOS RAM. */
#include <stdlib.h>
#include <string.h>

#include "civil-time.h"
#include "devices.h"
#include "macro.h"

enum {
    RTC_SECONDS = 0x00,
    RTC_SECONDS_ALARM = 0x01,
    RTC_MINUTES = 0x02,
    RTC_MINUTES_ALARM = 0x03,
    RTC_HOURS = 0x04,
    RTC_HOURS_ALARM = 0x05,
    RTC_WEEKDAY = 0x06,
    RTC_DAY = 0x07,
    RTC_MONTH = 0x08,
    RTC_YEAR = 0x09,
    RTC_STATUS_A = 0x0a,
    RTC_STATUS_B = 0x0b,
    RTC_STATUS_C = 0x0c,
    RTC_STATUS_D = 0x0d,
    RTC_CENTURY = 0x32,
};

#define STATUS_A_UIP  0x80
#define STATUS_B_SET  0x80
#define STATUS_B_DM   0x04 /* binary instead of BCD */
#define STATUS_B_24H  0x02
#define STATUS_D_VRT  0x80
#define HOUR_PM       0x80
#define UIP_WINDOW_NS 244000ull /* the update takes this long before each second ends */

struct Rtc {
    uint8_t index;
    uint8_t ram[128];
    int64_t offset_s; /* guest time = host real time + offset_s */
    bool frozen;      /* STATUS_B_SET: the time stands still and may be written */
    int64_t frozen_s;
};

static int64_t rtc_now(Rtc *r)
{
    if (r->frozen)
        return r->frozen_s;
    return (int64_t)(now_realtime_ns() / 1000000000ull) + r->offset_s;
}

static uint8_t rtc_encode(Rtc *r, unsigned v)
{
    v %= 100;
    return (r->ram[RTC_STATUS_B] & STATUS_B_DM) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static unsigned rtc_decode(Rtc *r, uint8_t v)
{
    return (r->ram[RTC_STATUS_B] & STATUS_B_DM) ? v : (v >> 4) * 10u + (v & 0x0f);
}

static uint8_t rtc_encode_hour(Rtc *r, unsigned hour)
{
    unsigned h12;

    if (r->ram[RTC_STATUS_B] & STATUS_B_24H)
        return rtc_encode(r, hour);
    h12 = hour % 12 == 0 ? 12 : hour % 12;
    return rtc_encode(r, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static unsigned rtc_decode_hour(Rtc *r, uint8_t v)
{
    unsigned h;

    if (r->ram[RTC_STATUS_B] & STATUS_B_24H)
        return rtc_decode(r, v) % 24;
    h = rtc_decode(r, v & 0x7f) % 12;
    return (v & HOUR_PM) ? h + 12 : h;
}

static uint8_t rtc_read_time(Rtc *r, uint8_t reg)
{
    CivilTime c = civil_from_seconds(rtc_now(r));

    switch (reg) {
    case RTC_SECONDS:
        return rtc_encode(r, c.second);
    case RTC_MINUTES:
        return rtc_encode(r, c.minute);
    case RTC_HOURS:
        return rtc_encode_hour(r, c.hour);
    case RTC_WEEKDAY:
        return rtc_encode(r, c.weekday + 1);
    case RTC_DAY:
        return rtc_encode(r, c.day);
    case RTC_MONTH:
        return rtc_encode(r, c.month);
    case RTC_YEAR:
        return rtc_encode(r, (unsigned)(c.year % 100));
    default: /* RTC_CENTURY */
        return rtc_encode(r, (unsigned)(c.year / 100));
    }
}

/* A guest write to a time register sets that field; the clock keeps running from there. */
static void rtc_write_time(Rtc *r, uint8_t reg, uint8_t v)
{
    CivilTime c = civil_from_seconds(rtc_now(r));
    unsigned d = rtc_decode(r, v);
    int64_t t;

    switch (reg) {
    case RTC_SECONDS:
        c.second = d % 60;
        break;
    case RTC_MINUTES:
        c.minute = d % 60;
        break;
    case RTC_HOURS:
        c.hour = rtc_decode_hour(r, v);
        break;
    case RTC_WEEKDAY:
        return; /* derived from the date */
    case RTC_DAY:
        c.day = d >= 1 && d <= 31 ? d : 1;
        break;
    case RTC_MONTH:
        c.month = d >= 1 && d <= 12 ? d : 1;
        break;
    case RTC_YEAR:
        c.year = c.year / 100 * 100 + d % 100;
        break;
    default: /* RTC_CENTURY */
        c.year = (int64_t)(d % 100) * 100 + c.year % 100;
        break;
    }
    t = civil_to_seconds(&c);
    if (r->frozen)
        r->frozen_s = t;
    else
        r->offset_s = t - (int64_t)(now_realtime_ns() / 1000000000ull);
}

static bool rtc_is_time_register(uint8_t reg)
{
    return reg == RTC_SECONDS || reg == RTC_MINUTES || reg == RTC_HOURS || reg == RTC_WEEKDAY ||
           reg == RTC_DAY || reg == RTC_MONTH || reg == RTC_YEAR || reg == RTC_CENTURY;
}

static uint8_t rtc_read_register(Rtc *r, uint8_t reg)
{
    uint8_t v;

    if (rtc_is_time_register(reg))
        return rtc_read_time(r, reg);
    switch (reg) {
    case RTC_STATUS_A:
        v = r->ram[RTC_STATUS_A] & 0x7f;
        if (!r->frozen && now_realtime_ns() % 1000000000ull >= 1000000000ull - UIP_WINDOW_NS)
            v |= STATUS_A_UIP;
        return v;
    case RTC_STATUS_C:
        v = r->ram[RTC_STATUS_C];
        r->ram[RTC_STATUS_C] = 0; /* reading C acknowledges the flags */
        return v;
    case RTC_STATUS_D:
        return STATUS_D_VRT;
    default:
        return r->ram[reg];
    }
}

static void rtc_write_register(Rtc *r, uint8_t reg, uint8_t v)
{
    if (rtc_is_time_register(reg)) {
        rtc_write_time(r, reg, v);
        return;
    }
    switch (reg) {
    case RTC_STATUS_A:
        r->ram[RTC_STATUS_A] = v & 0x7f; /* UIP is read-only */
        break;
    case RTC_STATUS_B:
        if ((v & STATUS_B_SET) && !r->frozen) {
            r->frozen_s = rtc_now(r);
            r->frozen = true;
        } else if (!(v & STATUS_B_SET) && r->frozen) {
            r->frozen = false;
            r->offset_s = r->frozen_s - (int64_t)(now_realtime_ns() / 1000000000ull);
        }
        r->ram[RTC_STATUS_B] = v;
        break;
    case RTC_STATUS_C:
    case RTC_STATUS_D:
        break; /* read-only */
    default:
        r->ram[reg] = v;
        break;
    }
}

static uint32_t rtc_read(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size)
{
    Rtc *r = dev->data;

    if (off == 0)
        return 0xff; /* the index register is write-only */
    return rtc_read_register(r, r->index & 0x7f);
}

static void rtc_write(IoDevice *dev, Vcpu *vcpu, uint16_t off, unsigned size, uint32_t value)
{
    Rtc *r = dev->data;

    if (off == 0)
        r->index = (uint8_t)value; /* bit 7 masks NMIs, which do not exist here */
    else
        rtc_write_register(r, r->index & 0x7f, (uint8_t)value);
}

static const IoDeviceOps rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
};

int rtc_init(Vm *vm, Error *e)
{
    Rtc *r = calloc(1, sizeof(*r));
    int k;

    if (!r)
        return error_set_errno(e, ENOMEM, "out of memory");
    r->ram[RTC_STATUS_A] = 0x26; /* 32.768 kHz time base, 1.024 kHz periodic rate */
    r->ram[RTC_STATUS_B] = STATUS_B_24H;
    k = vm_add_io_device(vm, &(IoDevice){
                                 .name = "rtc",
                                 .base = RTC_BASE,
                                 .len = 2,
                                 .stat = STAT_DEV_RTC,
                                 .byte_registers = true,
                                 .ops = &rtc_ops,
                                 .data = r,
                             });
    if (k < 0) {
        free(r);
        return error_set_errno(e, k, "cannot register the RTC: %m");
    }
    vm->rtc = r;
    return 0;
}

void rtc_fini(Vm *vm)
{
    vm->rtc = mfree(vm->rtc);
}

void rtc_save(Vm *vm, SnapRtc *out)
{
    Rtc *r = vm->rtc;

    *out = (SnapRtc){
        .index = r->index,
        .frozen = r->frozen,
        .offset_s = r->offset_s,
        .frozen_s = r->frozen_s,
    };
    memcpy(out->ram, r->ram, sizeof(out->ram));
}

/* The offset from host real time is kept: the restored RTC tracks wall time, as a machine's
 * battery-backed clock does while it is off. */
int rtc_load(Vm *vm, const SnapRtc *in)
{
    Rtc *r = vm->rtc;

    _Static_assert(sizeof(in->ram) == sizeof(r->ram), "saved CMOS RAM");
    r->index = in->index;
    r->frozen = in->frozen;
    r->offset_s = in->offset_s;
    r->frozen_s = in->frozen_s;
    memcpy(r->ram, in->ram, sizeof(r->ram));
    return 0;
}
