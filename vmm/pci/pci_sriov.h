/* Single Root I/O Virtualization for any physical function (PCIe Base 5.0, 9.3.3; Linux's
 * pci_regs.h PCI_SRIOV_*): the extended capability, NumVFs and VF Enable, the routing IDs of the
 * VFs, their BARs inside the PF's VF BAR windows and VF MSE. The model builds each VF's function
 * when the guest enables them; this file plugs, places and removes them. The caller serialises
 * calls (they come from the PF's config writes, on the vCPU thread). */
#ifndef VMSCOPE_PCI_SRIOV_H
#define VMSCOPE_PCI_SRIOV_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/pci/pci.h"

#define PCI_EXT_CAP_SRIOV 0x0010
/* Offsets inside the capability. */
#define PCI_SRIOV_CAP	     0x04
#define PCI_SRIOV_CTRL	     0x08
#define PCI_SRIOV_CTRL_VFE   0x01 /* VF Enable */
#define PCI_SRIOV_CTRL_MSE   0x08 /* VF Memory Space Enable */
#define PCI_SRIOV_CTRL_ARI   0x10 /* ARI Capable Hierarchy */
#define PCI_SRIOV_STATUS     0x0a
#define PCI_SRIOV_INITIAL_VF 0x0c
#define PCI_SRIOV_TOTAL_VF   0x0e
#define PCI_SRIOV_NUM_VF     0x10
#define PCI_SRIOV_FUNC_LINK  0x12
#define PCI_SRIOV_VF_OFFSET  0x14
#define PCI_SRIOV_VF_STRIDE  0x16
#define PCI_SRIOV_VF_DID     0x1a
#define PCI_SRIOV_SUP_PGSIZE 0x1c
#define PCI_SRIOV_SYS_PGSIZE 0x20
#define PCI_SRIOV_BAR	     0x24
#define PCI_SRIOV_SIZE	     0x40
#define PCI_SRIOV_MAX_VFS    8

struct pci_sriov_ops {
	/* Builds VF n's function (pci_vf_init, its BARs of the sizes given to pci_sriov_init,
	 * capabilities); it is plugged and placed afterwards. -errno leaves it out. */
	int (*vf_create)(void *opaque, unsigned n, struct pci_dev **vf);
	/* VF n was unplugged: let it go. */
	void (*vf_destroy)(void *opaque, unsigned n);
};

struct pci_sriov {
	struct pci_dev *pf;
	int cap;	/* the capability's offset in the PF's config space */
	unsigned total; /* TotalVFs = InitialVFs */
	uint16_t offset, stride;
	uint64_t bar_size[6]; /* one VF's BAR i */
	const struct pci_sriov_ops *ops;
	void *opaque;
	struct pci_dev *vf[PCI_SRIOV_MAX_VFS]; /* the VFs enabled now */
	uint16_t num_vfs;		       /* NumVFs as accepted */
	uint16_t ctrl;			       /* SR-IOV Control as last acted on */
	uint64_t refused;   /* NumVFs writes refused (above TotalVFs, or while VF Enable is set),
			     * unsupported page sizes */
	uint64_t vf_errors; /* VFs that could not be built or plugged (their routing ID is on
			     * another bus or taken) */
};

/* The routing ID (bus << 8 | devfn) of VF n (0-based) of a PF: PF's + offset + stride * n
 * (SR-IOV 9.3.3.10-11). -1: past bus 255. */
static inline int pci_sriov_rid(unsigned pf_bus, unsigned pf_devfn, unsigned offset,
				unsigned stride, unsigned n)
{
	unsigned rid = (pf_bus << 8 | pf_devfn) + offset + stride * n;
	return rid > 0xffff ? -1 : (int)rid;
}

/* Adds the capability to pf with TotalVFs = total, the VF BAR windows (bar_size[i] 0: no BAR
 * i) and the VF Device ID. -EINVAL, -ENOSPC. */
int pci_sriov_init(struct pci_sriov *s, struct pci_dev *pf, unsigned total, uint16_t offset,
		   uint16_t stride, uint16_t vf_device, const uint64_t bar_size[6],
		   const struct pci_sriov_ops *ops, void *opaque);
/* From the PF's cfg_written hook. */
void pci_sriov_cfg_written(struct pci_sriov *s, uint32_t off, uint32_t len);
/* Removes every VF (the PF goes away, or the guest cleared VF Enable). */
void pci_sriov_disable(struct pci_sriov *s);
/* The host's PF driver (the PF on no VM's bus): NumVFs = nvfs (at most TotalVFs) and VF Enable,
 * as `echo N > sriov_numvfs` does. Its VFs are built by the card and given to VMs (VFIO), not
 * plugged here. */
void pci_sriov_host_enable(struct pci_sriov *s, unsigned nvfs);
/* Where VF n's BAR i sits now (0: not decoding). */
uint64_t pci_sriov_vf_bar(const struct pci_sriov *s, unsigned n, unsigned bar);

#endif
