/* Image loaders: ELF program headers (32 and 64 bit), the minihv note, Multiboot v1. */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot-format.h"
#include "loader.h"
#include "macro.h"
#include "minihv-abi.h"

#define IMAGE_MAX_SIZE   (256u << 20)
#define MB_MAGIC         0x1badb002u
#define MB_BOOT_MAGIC    0x2badb002u
#define MB_SEARCH        8192u
#define MB_F_PAGE_ALIGN  0x00000001u
#define MB_F_MEMORY_INFO 0x00000002u
#define MB_F_ADDRESSES   0x00010000u
#define MB_INFO_MEMORY   0x001u
#define MB_INFO_CMDLINE  0x004u
#define MB_INFO_MMAP     0x040u
#define MB_INFO_LOADER   0x200u
#define MB_INFO_ADDR     0x9000u /* below 640 KiB, as boot loaders place it */
#define MB_MMAP_ADDR     (MB_INFO_ADDR + 0x100u)
#define MB_LOADER_ADDR   (MB_INFO_ADDR + 0x200u)
#define MB_CMDLINE_ADDR  (MB_INFO_ADDR + 0x400u)
#define LOW_MEMORY_END   0x9fc00u
#define IMAGE_MIN_ADDR   0x100000u /* images load at or above 1 MiB in both modes */

typedef struct Segment {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz, align;
} Segment;

/* A validated view of an ELF file's program headers. */
typedef struct ElfView {
    const uint8_t *img;
    size_t size;
    bool is64;
    uint16_t machine;
    uint64_t entry;
    uint64_t phoff;
    uint16_t phnum;
    uint16_t phentsize;
} ElfView;

static int elf_open(const uint8_t *img, size_t size, ElfView *v, Error *e)
{
    uint64_t end;

    if (size < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
        return error_set_errno(e, ENOEXEC, "not an ELF file");
    if (img[EI_DATA] != ELFDATA2LSB)
        return error_set_errno(e, ENOEXEC, "not a little-endian ELF file");
    *v = (ElfView){.img = img, .size = size};
    if (img[EI_CLASS] == ELFCLASS64 && size >= sizeof(Elf64_Ehdr)) {
        Elf64_Ehdr h;
        memcpy(&h, img, sizeof(h));
        v->is64 = true;
        v->machine = h.e_machine;
        v->entry = h.e_entry;
        v->phoff = h.e_phoff;
        v->phnum = h.e_phnum;
        v->phentsize = h.e_phentsize;
        if (h.e_type != ET_EXEC || v->phentsize != sizeof(Elf64_Phdr))
            return error_set_errno(e, ENOEXEC, "not a static ELF executable");
    } else if (img[EI_CLASS] == ELFCLASS32 && size >= sizeof(Elf32_Ehdr)) {
        Elf32_Ehdr h;
        memcpy(&h, img, sizeof(h));
        v->machine = h.e_machine;
        v->entry = h.e_entry;
        v->phoff = h.e_phoff;
        v->phnum = h.e_phnum;
        v->phentsize = h.e_phentsize;
        if (h.e_type != ET_EXEC || v->phentsize != sizeof(Elf32_Phdr))
            return error_set_errno(e, ENOEXEC, "not a static ELF executable");
    } else
        return error_set_errno(e, ENOEXEC, "truncated ELF header");
    if (v->phnum == 0 || v->phnum > 64)
        return error_set_errno(e, ENOEXEC, "ELF file has %u program headers", v->phnum);
    if (__builtin_mul_overflow((uint64_t)v->phnum, v->phentsize, &end) ||
        __builtin_add_overflow(end, v->phoff, &end) || end > size)
        return error_set_errno(e, ENOEXEC, "ELF program headers lie outside the file");
    return 0;
}

static Segment elf_segment(const ElfView *v, unsigned i)
{
    const uint8_t *p = v->img + v->phoff + (uint64_t)i * v->phentsize;

    if (v->is64) {
        Elf64_Phdr h;
        memcpy(&h, p, sizeof(h));
        return (Segment){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz, h.p_align};
    } else {
        Elf32_Phdr h;
        memcpy(&h, p, sizeof(h));
        return (Segment){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz, h.p_align};
    }
}

/* Copies file bytes [offset, offset + filesz) to guest [paddr, paddr + memsz) after checking
 * both ranges; the rest of memsz stays zero (guest memory starts zeroed). */
static int load_range(Vm *vm, const uint8_t *img, size_t size, uint64_t offset, uint64_t filesz,
                      uint64_t paddr, uint64_t memsz, Error *e)
{
    uint64_t fend, mend;

    if (filesz > memsz)
        return error_set_errno(e, ENOEXEC, "segment has more file bytes than memory bytes");
    if (__builtin_add_overflow(offset, filesz, &fend) || fend > size)
        return error_set_errno(e, ENOEXEC, "segment lies outside the file");
    if (__builtin_add_overflow(paddr, memsz, &mend) || paddr < IMAGE_MIN_ADDR ||
        mend > vm->mem.size)
        return error_set_errno(e, ENOEXEC,
                               "segment at 0x%llx (+0x%llx bytes) does not fit in guest memory "
                               "[0x%x, 0x%llx)",
                               (unsigned long long)paddr, (unsigned long long)memsz, IMAGE_MIN_ADDR,
                               (unsigned long long)vm->mem.size);
    memcpy(vm->mem.base + paddr, img + offset, filesz);
    return 0;
}

static int elf_load_segments(Vm *vm, const ElfView *v, Error *e)
{
    bool entry_ok = false;
    unsigned loads = 0;
    int r;

    for (unsigned i = 0; i < v->phnum; i++) {
        Segment s = elf_segment(v, i);

        if (s.type != PT_LOAD || s.memsz == 0)
            continue;
        r = load_range(vm, v->img, v->size, s.offset, s.filesz, s.paddr, s.memsz, e);
        if (r < 0)
            return r;
        loads++;
        if (v->entry >= s.paddr && v->entry - s.paddr < s.memsz)
            entry_ok = true;
    }
    if (loads == 0)
        return error_set_errno(e, ENOEXEC, "ELF file has nothing to load");
    if (!entry_ok)
        return error_set_errno(e, ENOEXEC, "entry point 0x%llx is not in a loaded segment",
                               (unsigned long long)v->entry);
    return 0;
}

/* Looks for the minihv ABI note; returns its version, or 0 when absent. */
static uint32_t elf_find_minihv_note(const ElfView *v)
{
    for (unsigned i = 0; i < v->phnum; i++) {
        Segment s = elf_segment(v, i);
        uint64_t pos, end, align = s.align == 8 ? 8 : 4;

        if (s.type != PT_NOTE || __builtin_add_overflow(s.offset, s.filesz, &end) || end > v->size)
            continue;
        for (pos = s.offset; end - pos >= 12;) {
            uint32_t n[3], namesz, descsz;
            uint64_t name_at, desc_at, next;

            memcpy(n, v->img + pos, sizeof(n));
            namesz = n[0];
            descsz = n[1];
            name_at = pos + 12;
            desc_at = name_at + ((namesz + align - 1) & ~(align - 1));
            next = desc_at + ((descsz + align - 1) & ~(align - 1));
            if (desc_at > end || next > end || next <= pos)
                break;
            if (namesz == sizeof(MINIHV_NOTE_NAME) && n[2] == MINIHV_NOTE_ABI && descsz == 4 &&
                memcmp(v->img + name_at, MINIHV_NOTE_NAME, sizeof(MINIHV_NOTE_NAME)) == 0) {
                uint32_t version;
                memcpy(&version, v->img + desc_at, sizeof(version));
                return version;
            }
            pos = next;
        }
    }
    return 0;
}

static int load_pv(Vm *vm, const uint8_t *img, size_t size, Error *e)
{
    ElfView v;
    uint32_t version;
    int r;

    r = elf_open(img, size, &v, e);
    if (r < 0)
        return r;
    if (!v.is64 || v.machine != EM_X86_64)
        return error_set_errno(e, ENOEXEC, "a pv guest must be an ELF64 x86-64 executable");
    version = elf_find_minihv_note(&v);
    if (version == 0)
        return error_set_errno(e, ENOEXEC,
                               "not a minihv pv guest (no minihv ABI note); full-mode images "
                               "run with --mode full");
    if (version != MINIHV_ABI_VERSION)
        return error_set_errno(e, ENOEXEC, "guest wants minihv ABI %u, this minihv speaks %u",
                               version, MINIHV_ABI_VERSION);
    r = elf_load_segments(vm, &v, e);
    if (r < 0)
        return r;
    vm->entry = v.entry;
    return 0;
}

typedef struct MultibootHeader {
    uint32_t magic, flags, checksum;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
} MultibootHeader;

static int multiboot_find(const uint8_t *img, size_t size, MultibootHeader *h, size_t *at)
{
    size_t limit = MIN((size_t)MB_SEARCH, size);

    for (size_t off = 0; off + 12 <= limit; off += 4) {
        uint32_t w[3];
        memcpy(w, img + off, sizeof(w));
        if (w[0] == MB_MAGIC && (uint32_t)(w[0] + w[1] + w[2]) == 0) {
            memset(h, 0, sizeof(*h));
            memcpy(h, img + off, MIN(sizeof(*h), size - off));
            *at = off;
            return 0;
        }
    }
    return -ENOENT;
}

/* The a.out kludge: the header's own address fields say what to load where. */
static int multiboot_load_addresses(Vm *vm, const uint8_t *img, size_t size,
                                    const MultibootHeader *h, size_t at, Error *e)
{
    uint64_t file_off, load_end, len, memsz;
    int r;

    if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > at)
        return error_set_errno(e, ENOEXEC, "Multiboot header addresses are inconsistent");
    file_off = at - (h->header_addr - h->load_addr);
    load_end = h->load_end_addr ? h->load_end_addr : h->load_addr + (size - file_off);
    if (load_end < h->load_addr)
        return error_set_errno(e, ENOEXEC, "Multiboot load_end_addr is below load_addr");
    len = load_end - h->load_addr;
    memsz = len;
    if (h->bss_end_addr) {
        if (h->bss_end_addr < load_end)
            return error_set_errno(e, ENOEXEC, "Multiboot bss_end_addr is below load_end_addr");
        memsz = h->bss_end_addr - h->load_addr;
    }
    r = load_range(vm, img, size, file_off, len, h->load_addr, memsz, e);
    if (r < 0)
        return r;
    if (h->entry_addr < h->load_addr || h->entry_addr >= h->load_addr + memsz)
        return error_set_errno(e, ENOEXEC, "Multiboot entry point is outside the image");
    vm->entry = h->entry_addr;
    return 0;
}

static void multiboot_write_info(Vm *vm)
{
    const char *cmdline = vm->cfg.cmdline;
    size_t cmdlen = strlen(cmdline);
    uint32_t info[22] = {0};
    struct __attribute__((packed)) {
        uint32_t size;
        uint64_t base, length;
        uint32_t type;
    } mmap[3] = {
        {20, 0, LOW_MEMORY_END, 1},
        {20, LOW_MEMORY_END, IMAGE_MIN_ADDR - LOW_MEMORY_END, 2},
        {20, IMAGE_MIN_ADDR, vm->mem.size - IMAGE_MIN_ADDR, 1},
    };

    info[0] = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MMAP | MB_INFO_LOADER;
    info[1] = LOW_MEMORY_END / 1024;                              /* mem_lower, KiB */
    info[2] = (uint32_t)((vm->mem.size - IMAGE_MIN_ADDR) / 1024); /* mem_upper, KiB */
    info[4] = MB_CMDLINE_ADDR;
    info[11] = sizeof(mmap); /* mmap_length */
    info[12] = MB_MMAP_ADDR;
    info[16] = MB_LOADER_ADDR; /* boot_loader_name */
    memcpy(gmem_vmm_ptr(&vm->mem, MB_INFO_ADDR, sizeof(info)), info, sizeof(info));
    memcpy(gmem_vmm_ptr(&vm->mem, MB_MMAP_ADDR, sizeof(mmap)), mmap, sizeof(mmap));
    memcpy(gmem_vmm_ptr(&vm->mem, MB_LOADER_ADDR, 7), "minihv", 7);
    memcpy(gmem_vmm_ptr(&vm->mem, MB_CMDLINE_ADDR, cmdlen + 1), cmdline, cmdlen + 1);
    vm->boot_arg = MB_INFO_ADDR;
}

static int load_full(Vm *vm, const uint8_t *img, size_t size, Error *e)
{
    MultibootHeader h;
    size_t at;
    ElfView v;
    int r;

    if (strlen(vm->cfg.cmdline) > MINIHV_CMDLINE_MAX)
        return error_setf(e, ERROR_INVALID_ARGUMENT, "command line longer than %u bytes",
                          MINIHV_CMDLINE_MAX);
    if (multiboot_find(img, size, &h, &at) < 0)
        return error_set_errno(e, ENOEXEC,
                               "no Multiboot header in the first 8 KiB: not a full-mode image "
                               "(pv guests run with --mode pv)");
    if (h.flags & 0x0000fffcu)
        return error_set_errno(e, ENOEXEC,
                               "Multiboot header requires features minihv lacks "
                               "(flags 0x%x)",
                               h.flags);
    if (h.flags & MB_F_ADDRESSES) {
        if (at + sizeof(h) > size)
            return error_set_errno(e, ENOEXEC, "truncated Multiboot header");
        r = multiboot_load_addresses(vm, img, size, &h, at, e);
    } else {
        r = elf_open(img, size, &v, e);
        if (r >= 0 && v.machine != EM_386 && v.machine != EM_X86_64)
            r = error_set_errno(e, ENOEXEC, "Multiboot ELF image is not for x86");
        if (r >= 0)
            r = elf_load_segments(vm, &v, e);
        if (r >= 0)
            vm->entry = v.entry;
    }
    if (r < 0)
        return r;
    if (vm->entry > 0xffffffffu)
        return error_set_errno(e, ENOEXEC, "Multiboot entry point is above 4 GiB");
    multiboot_write_info(vm);
    return 0;
}

int loader_load_buffer(Vm *vm, const uint8_t *img, size_t size, Error *e)
{
    return vm->cfg.mode == VM_MODE_PV ? load_pv(vm, img, size, e) : load_full(vm, img, size, e);
}

int loader_load(Vm *vm, Error *e)
{
    const char *path = vm->cfg.guest_path;
    _cleanup_close_ int fd = -EBADF;
    _cleanup_free_ uint8_t *img = NULL;
    struct stat st;
    size_t done = 0;

    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return error_set_errno(e, errno, "cannot open guest image %s: %m", path);
    if (fstat(fd, &st) < 0)
        return error_set_errno(e, errno, "cannot stat guest image %s: %m", path);
    if (!S_ISREG(st.st_mode))
        return error_set_errno(e, ENOEXEC, "guest image %s is not a regular file", path);
    if ((uint64_t)st.st_size > IMAGE_MAX_SIZE)
        return error_set_errno(e, ENOEXEC, "guest image %s is larger than %u MiB", path,
                               IMAGE_MAX_SIZE >> 20);
    img = malloc((size_t)st.st_size + 1);
    if (!img)
        return error_set_errno(e, ENOMEM, "out of memory");
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, img + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(e, errno, "cannot read guest image %s: %m", path);
        if (n == 0)
            break;
        done += (size_t)n;
    }
    vm->guest_size = done; /* the image's identity in saved images */
    vm->guest_hash = snapshot_fnv1a(SNAPSHOT_FNV_OFFSET, img, done);
    return loader_load_buffer(vm, img, done, e);
}
