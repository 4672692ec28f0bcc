/* full flavour clock: the CMOS RTC, read as the datasheet says (wait out UIP, read twice). */
#include "civil-time.h"
#include "full.h"
#include "pio.h"

#define CMOS_INDEX 0x70u
#define CMOS_DATA  0x71u

static uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, reg);
    return inb(CMOS_DATA);
}

static unsigned bcd(uint8_t v, bool binary)
{
    return binary ? v : (v >> 4) * 10u + (v & 0x0f);
}

uint64_t clock_wall_ns(void)
{
    uint8_t sec, min, hour, day, mon, year, cent, b = cmos_read(0x0b);
    bool binary = b & 0x04, h24 = b & 0x02;
    CivilTime c;

    do {
        while (cmos_read(0x0a) & 0x80) /* update in progress */
            cpu_relax();
        sec = cmos_read(0x00);
        min = cmos_read(0x02);
        hour = cmos_read(0x04);
        day = cmos_read(0x07);
        mon = cmos_read(0x08);
        year = cmos_read(0x09);
        cent = cmos_read(0x32);
    } while (sec != cmos_read(0x00));

    c.second = bcd(sec, binary);
    c.minute = bcd(min, binary);
    c.hour = bcd(hour & 0x7f, binary);
    if (!h24)
        c.hour = c.hour % 12 + ((hour & 0x80) ? 12 : 0);
    c.day = bcd(day, binary);
    c.month = bcd(mon, binary);
    c.year = (int64_t)(cent ? bcd(cent, binary) : 20) * 100 + bcd(year, binary);
    return (uint64_t)civil_to_seconds(&c) * 1000000000ull;
}
