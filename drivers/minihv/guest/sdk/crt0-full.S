/* full-mode start-up: a Multiboot v1 image entered in 32-bit protected mode at ring 0. It
 * switches to long mode at once with page tables and a GDT that are static data (no loops:
 * every ring-0 instruction is emulated on the target host) and calls sdk_full_start. The
 * same image boots under QEMU's -kernel. Avoids 32-bit iret, int3, rdtscp and xgetbv. */

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00010002 /* memory information, address fields valid */

    .section .multiboot, "a"
    .balign 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header
    .long _image_start
    .long _image_data_end
    .long _image_end
    .long _start

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    mov %eax, %edi          /* Multiboot magic */
    mov %ebx, %esi          /* Multiboot information */
    lgdt gdt_pointer
    mov %cr4, %eax
    or $0x20, %eax          /* PAE */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx   /* EFER */
    rdmsr
    or $0x100, %eax         /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax    /* PG PE */
    mov %eax, %cr0
    ljmp $0x08, $long_mode

    .code64
long_mode:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $sdk_stack_top, %rsp
    mov %edi, %edi
    mov %esi, %esi
    xor %ebp, %ebp
    call sdk_full_start
    ud2

    .section .rodata
    .balign 8
gdt:
    .quad 0
    .quad 0x00209a0000000000 /* 0x08: 64-bit code, ring 0 */
    .quad 0x00cf92000000ffff /* 0x10: data, ring 0 */
gdt_pointer:
    .word gdt_pointer - gdt - 1
    .long gdt

    /* Identity map of the first 1 GiB with 2 MiB pages, filled by the assembler. */
    .section .data
    .balign 4096
pml4:
    .quad pdpt + 0x3
    .fill 511, 8, 0
pdpt:
    .quad pd + 0x3
    .fill 511, 8, 0
pd:
    .set i, 0
    .rept 512
    .quad (i << 21) + 0x83
    .set i, i + 1
    .endr

    .section .bss
    .balign 16
sdk_stack:
    .skip 65536
sdk_stack_top:

    .section .note.GNU-stack, "", @progbits
