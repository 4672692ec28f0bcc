/* pv start-up: the VMM enters here at ring 3 in 64-bit mode with rdi = boot info. */
    .section .text.entry, "ax"
    .globl _start
_start:
    lea sdk_stack_top(%rip), %rsp
    xor %ebp, %ebp
    call sdk_pv_start
    ud2

/* Secondary CPUs (VCPU_UP): rdi = arg, rsi = cpu, rsp = the stack the guest gave. */
    .globl sdk_pv_ap_entry
sdk_pv_ap_entry:
    and $-16, %rsp
    xor %ebp, %ebp
    call sdk_pv_ap_main
    ud2

    .section .bss
    .balign 16
sdk_stack:
    .skip 65536
sdk_stack_top:

    .section .note.GNU-stack, "", @progbits
