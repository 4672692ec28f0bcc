-- A domain may name a network to attach its NIC to (a libvirt network for the kvm driver).
ALTER TABLE domains ADD COLUMN network TEXT;
