/* A tiny Multiboot (v1) guest for tests of the kvm driver: greets on COM1 (and on the VGA text
 * screen, in bright green from row VGA_FIRST_ROW, for the graphical console), then powers off at once
 * ("poweroff"), reports a panic through pvpanic ("panic"), or waits for the ACPI power button.
 *
 * Command line words it understands (QEMU passes the kernel path first):
 *   mode=NAME  echoed in the greeting, "hello mode=NAME"
 *   poweroff   power off right after the greeting
 *   panic      tell the host the guest panicked (pvpanic, port 0x505) and stop
 * Otherwise it sleeps on the timer interrupt and powers off when the power button is pressed, so
 * a graceful shutdown (and libvirt's ACPI reboot) works. Interrupt handlers never return: the
 * wait loop restarts from the top, so no iret is needed. */

#define COM1          0x3f8
#define PVPANIC_PORT  0x505
#define PM1_PWRBTN    0x0100 /* PM1a status/enable: power button */
#define PM1_SLP_EN_S5 0x2000 /* PM1a control: sleep enable, sleep type 0 (soft off on PIIX4) */
#define MB_MAGIC      0x1badb002
#define MB_LOADER     0x2badb002
#define VGA_TEXT      0xb8000 /* 80x25 cells: character, attribute */
#define VGA_FIRST_ROW 12      /* below what SeaBIOS wrote */
#define VGA_GREEN     0x0a    /* bright green on black */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long 0
    .long -MB_MAGIC

    .text
    .code32
    .globl _start
_start:
    cli
    movl $stack_top, %esp
    movl %eax, %ebp
    lgdt gdt_descriptor
    ljmp $0x08, $1f
1:  movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs

    /* The command line, or an empty string when the loader gave none. */
    movl $empty, %edi
    cmpl $MB_LOADER, %ebp
    jne 1f
    testl $4, (%ebx)
    jz 1f
    movl 16(%ebx), %edi
1:  movl %edi, cmdline

    call serial_init
    movl $msg_hello, %esi
    call puts
    movl $word_mode, %esi
    call find
    testl %eax, %eax
    jz 2f
    pushl %eax
    movl $msg_mode, %esi
    call puts
    popl %esi
    call put_word
2:  movl $msg_eol, %esi
    call puts

    movl $word_panic, %esi
    call find
    testl %eax, %eax
    jz 3f
    movl $msg_panic, %esi
    call puts
    movw $PVPANIC_PORT, %dx
    movb $1, %al
    outb %al, %dx
    jmp halt_forever

3:  call pm_base
    movw %ax, pmbase
    movl $word_poweroff, %esi
    call find
    testl %eax, %eax
    jnz power_off

    call idt_init
    call pic_init
    call pit_init
    movw pmbase, %dx
    addw $2, %dx
    movw $PM1_PWRBTN, %ax
    outw %ax, %dx

/* Entered again from every timer interrupt, with interrupts off and a fresh stack. */
wait_loop:
    movl $stack_top, %esp
    movw pmbase, %dx
    inw %dx, %ax
    testw $PM1_PWRBTN, %ax
    jnz power_button
    sti
    hlt
    jmp wait_loop

power_button:
    movw $PM1_PWRBTN, %ax
    outw %ax, %dx
    movl $msg_button, %esi
    call puts
power_off:
    movl $msg_off, %esi
    call puts
    movw pmbase, %dx
    addw $4, %dx
    movw $PM1_SLP_EN_S5, %ax
    outw %ax, %dx
halt_forever:
    cli
    hlt
    jmp halt_forever

/* %ax = the PIIX4 power-management I/O base (PCI 00:01.3, register 0x40), 0x600 if unset. */
pm_base:
    movw $0xcf8, %dx
    movl $0x80000b40, %eax
    outl %eax, %dx
    movw $0xcfc, %dx
    inl %dx, %eax
    andl $0xffc0, %eax
    jnz 1f
    movl $0x600, %eax
1:  ret

/* Every vector points at fault_entry, except the 16 remapped PIC lines at 0x20..0x2f. */
idt_init:
    xorl %ecx, %ecx
1:  movl $fault_entry, %eax
    cmpl $0x20, %ecx
    jb 2f
    cmpl $0x30, %ecx
    jae 2f
    movl $irq_entry, %eax
2:  leal idt(,%ecx,8), %edi
    movw %ax, (%edi)
    movw $0x08, 2(%edi)
    movw $0x8e00, 4(%edi) /* present, ring 0, 32-bit interrupt gate */
    shrl $16, %eax
    movw %ax, 6(%edi)
    incl %ecx
    cmpl $256, %ecx
    jb 1b
    lidt idt_descriptor
    ret

/* Remaps the PICs to vectors 0x20..0x2f and leaves only the timer (IRQ 0) unmasked. */
pic_init:
    movb $0x11, %al
    outb %al, $0x20
    outb %al, $0xa0
    movb $0x20, %al
    outb %al, $0x21
    movb $0x28, %al
    outb %al, $0xa1
    movb $4, %al
    outb %al, $0x21
    movb $2, %al
    outb %al, $0xa1
    movb $1, %al
    outb %al, $0x21
    outb %al, $0xa1
    movb $0xfe, %al
    outb %al, $0x21
    movb $0xff, %al
    outb %al, $0xa1
    ret

/* PIT channel 0, rate generator at about 50 Hz. */
pit_init:
    movb $0x34, %al
    outb %al, $0x43
    movw $23864, %ax
    outb %al, $0x40
    movb %ah, %al
    outb %al, $0x40
    ret

irq_entry:
    movb $0x20, %al
    outb %al, $0xa0
    outb %al, $0x20
    jmp wait_loop

fault_entry:
    movl $stack_top, %esp
    movl $msg_fault, %esi
    call puts
    jmp halt_forever

serial_init:
    movw $COM1 + 1, %dx
    xorb %al, %al
    outb %al, %dx /* no interrupts */
    movw $COM1 + 3, %dx
    movb $0x80, %al
    outb %al, %dx /* divisor latch */
    movw $COM1, %dx
    movb $1, %al
    outb %al, %dx /* 115200 baud */
    movw $COM1 + 1, %dx
    xorb %al, %al
    outb %al, %dx
    movw $COM1 + 3, %dx
    movb $3, %al
    outb %al, %dx /* 8N1 */
    ret

/* Writes the byte in %al to COM1 once the transmitter is empty. */
putc:
    pushl %eax
    movw $COM1 + 5, %dx
1:  inb %dx, %al
    testb $0x20, %al
    jz 1b
    popl %eax
    movw $COM1, %dx
    outb %al, %dx
    /* The same on the VGA text screen: a line feed starts the next row, a return is dropped,
     * and nothing is written past the screen's last cell. */
    cmpb $'\r', %al
    je 3f
    cmpb $'\n', %al
    jne 2f
    incl vga_line
    movl $0, vga_col
    ret
2:  cmpl $25 - VGA_FIRST_ROW, vga_line
    jae 3f
    cmpl $80, vga_col
    jae 3f
    pushl %edi
    movl vga_line, %edi
    addl $VGA_FIRST_ROW, %edi
    imull $80, %edi
    addl vga_col, %edi
    movb %al, VGA_TEXT(,%edi,2)
    movb $VGA_GREEN, VGA_TEXT + 1(,%edi,2)
    incl vga_col
    popl %edi
3:  ret

/* Writes the NUL-terminated string at %esi. */
puts:
    lodsb
    testb %al, %al
    jz 1f
    call putc
    jmp puts
1:  ret

/* Writes the string at %esi up to a space or NUL. */
put_word:
    lodsb
    testb %al, %al
    jz 1f
    cmpb $' ', %al
    je 1f
    call putc
    jmp put_word
1:  ret

/* %eax = address just past the first occurrence of the string at %esi in the command line, or 0. */
find:
    pushl %ebx
    pushl %edi
    movl cmdline, %edi
1:  xorl %ecx, %ecx
2:  movb (%esi,%ecx), %al
    testb %al, %al
    jz 3f
    cmpb (%edi,%ecx), %al
    jne 4f
    incl %ecx
    jmp 2b
3:  leal (%edi,%ecx), %eax
    jmp 5f
4:  cmpb $0, (%edi)
    je 6f
    incl %edi
    jmp 1b
6:  xorl %eax, %eax
5:  popl %edi
    popl %ebx
    ret

    .section .rodata
msg_hello:     .asciz "hello"
msg_mode:      .asciz " mode="
msg_eol:       .asciz "\r\n"
msg_panic:     .asciz "panic: reporting a guest crash\r\n"
msg_button:    .asciz "power button pressed\r\n"
msg_off:       .asciz "powering off\r\n"
msg_fault:     .asciz "unexpected exception; halting\r\n"
word_mode:     .asciz "mode="
word_poweroff: .asciz "poweroff"
word_panic:    .asciz "panic"
empty:         .asciz ""

    .align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff /* 0x08: flat 32-bit code */
    .quad 0x00cf92000000ffff /* 0x10: flat data */
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long gdt
idt_descriptor:
    .word 256 * 8 - 1
    .long idt

    .bss
    .align 16
cmdline: .long 0
vga_line: .long 0 /* rows written below VGA_FIRST_ROW */
vga_col:  .long 0
pmbase:  .word 0
    .align 16
idt:     .skip 256 * 8
stack:   .skip 4096
stack_top:
