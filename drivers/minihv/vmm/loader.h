/* Guest image loading: ELF64 pv images and Multiboot (v1) full-mode images. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "vm.h"

/* Loads vm->cfg.guest_path into guest memory for vm->cfg.mode and sets vm->entry (and, in
 * full mode, writes the Multiboot information and sets vm->boot_arg). Returns 0, -ENOEXEC
 * with e set when the image is refused, or another negative errno. */
int loader_load(Vm *vm, Error *e);

/* The same on an image already in memory (the fuzzer uses it). */
int loader_load_buffer(Vm *vm, const uint8_t *img, size_t size, Error *e);
