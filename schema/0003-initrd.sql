-- A domain booted from a kernel may take an initial ramdisk with it (kvm driver: <initrd>).
ALTER TABLE domains ADD COLUMN initrd TEXT;
