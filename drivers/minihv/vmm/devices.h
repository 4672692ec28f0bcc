/* Constructors of the emulated devices. Each registers its ports on the VM's I/O bus. */
#pragma once

#include "error.h"
#include "snapshot-format.h"
#include "vm.h"

/* Full mode: standard PC devices. */
#define UART_COM1_BASE 0x3f8u /* 16550 UART, 8 ports */
#define ATA_CMD_BASE   0x1f0u /* primary ATA channel command block, 8 ports */
#define ATA_CTL_PORT   0x3f6u /* primary ATA channel alternate status / device control */
#define RTC_BASE       0x70u  /* CMOS index and data */
#define PM1_BASE       0x600u /* ACPI PM1a event (status, enable) and control block */
#define RESET_PORT     0xcf9u /* PIIX reset control register */

int uart_init(Vm *vm, Error *e);
void uart_fini(Vm *vm);

/* Registers the ATA channel only when a disk is attached: without one, the ports float. */
int ata_init(Vm *vm, Error *e);
void ata_fini(Vm *vm);

int rtc_init(Vm *vm, Error *e);
void rtc_fini(Vm *vm);

/* NE2000 (DP8390) on ISA ports NE2000_BASE..+0x1f: the frontend of vm->net in full mode. */
#define NE2000_BASE 0x300u
int ne2000_init(Vm *vm, Error *e);
void ne2000_fini(Vm *vm);

int power_init(Vm *vm, Error *e);
void power_fini(Vm *vm);

/* Sets PWRBTN_STS in PM1a_STS, as pressing the power button does. Thread-safe. */
void power_press_button(Vm *vm);

/* pv mode: the hypercall window, the block doorbell and the exception-report port. */
int hypercall_init(Vm *vm, Error *e);

/* Saved state of the full-mode devices. save copies the device's registers into out (the caller
 * has paused every vCPU); load checks every value a file supplies and installs it, returning 0
 * or -EINVAL when a value is impossible (nothing is changed then). */
void uart_save(Vm *vm, SnapUart *out);
int uart_load(Vm *vm, const SnapUart *in);
void ata_save(Vm *vm, SnapAta *out);
int ata_load(Vm *vm, const SnapAta *in);
void rtc_save(Vm *vm, SnapRtc *out);
int rtc_load(Vm *vm, const SnapRtc *in);
void power_save(Vm *vm, SnapPower *out);
int power_load(Vm *vm, const SnapPower *in);
/* The NE2000's register file and packet memory. Every value is one a guest could have written, so
 * load refuses nothing; it rewrites the address PROM from the domain's (possibly new) MAC. */
void ne2000_save(Vm *vm, SnapNe2000 *out);
int ne2000_load(Vm *vm, const SnapNe2000 *in);
