/* SR-IOV capability semantics (PCIe Base 5.0, 9.3.3). */
#include "vmm/pci/pci_sriov.h"

#include <errno.h>
#include <string.h>

static uint32_t reg(const struct pci_sriov *s, uint32_t off, unsigned len)
{
	return pci_cfg_get(s->pf, (uint32_t)s->cap + off, len);
}

int pci_sriov_init(struct pci_sriov *s, struct pci_dev *pf, unsigned total, uint16_t offset,
		   uint16_t stride, uint16_t vf_device, const uint64_t bar_size[6],
		   const struct pci_sriov_ops *ops, void *opaque)
{
	uint8_t body[PCI_SRIOV_SIZE - 4] = {0};
	if (!total || total > PCI_SRIOV_MAX_VFS || !offset || (total > 1 && !stride))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->pf = pf;
	s->total = total;
	s->offset = offset;
	s->stride = stride;
	s->ops = ops;
	s->opaque = opaque;
	memcpy(s->bar_size, bar_size, sizeof(s->bar_size));
	int cap = pci_dev_add_ext_cap(pf, PCI_EXT_CAP_SRIOV, 1, body, sizeof(body));
	if (cap < 0)
		return cap;
	s->cap = cap;
	pci_cfg_set(pf, cap + PCI_SRIOV_INITIAL_VF, total, 2);
	pci_cfg_set(pf, cap + PCI_SRIOV_TOTAL_VF, total, 2);
	pci_cfg_set(pf, cap + PCI_SRIOV_FUNC_LINK, pf->devfn & 7, 1);
	pci_cfg_set(pf, cap + PCI_SRIOV_VF_OFFSET, offset, 2);
	pci_cfg_set(pf, cap + PCI_SRIOV_VF_STRIDE, stride, 2);
	pci_cfg_set(pf, cap + PCI_SRIOV_VF_DID, vf_device, 2);
	pci_cfg_set(pf, cap + PCI_SRIOV_SUP_PGSIZE, 1, 4); /* 4 KiB only */
	pci_cfg_set(pf, cap + PCI_SRIOV_SYS_PGSIZE, 1, 4);
	const uint8_t ctrl_mask[2] = {PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE | PCI_SRIOV_CTRL_ARI,
				      0};
	const uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff};
	pci_dev_writable(pf, cap + PCI_SRIOV_CTRL, ctrl_mask, 2);
	pci_dev_writable(pf, cap + PCI_SRIOV_NUM_VF, ones, 2);
	pci_dev_writable(pf, cap + PCI_SRIOV_SYS_PGSIZE, ones, 4);
	for (unsigned i = 0; i < 6; i++) {
		if (!bar_size[i])
			continue;
		/* A VF BAR is a multiple of the system page (4 KiB). */
		int r = pci_dev_add_window(pf, 6 + i, (uint16_t)(cap + PCI_SRIOV_BAR + 4 * i),
					   bar_size[i], total);
		if (r)
			return r;
	}
	return 0;
}

uint64_t pci_sriov_vf_bar(const struct pci_sriov *s, unsigned n, unsigned bar)
{
	if (n >= s->num_vfs || bar >= 6 || !s->bar_size[bar])
		return 0;
	uint64_t base = reg(s, PCI_SRIOV_BAR + 4 * bar, 4) & ~0xfull;
	return base ? base + n * s->bar_size[bar] : 0;
}

/* Every VF's BARs where the windows put them, decoding while VF MSE is set. */
static void place(struct pci_sriov *s)
{
	bool mse = s->ctrl & PCI_SRIOV_CTRL_MSE;
	for (unsigned n = 0; n < PCI_SRIOV_MAX_VFS; n++) {
		uint64_t at[6];
		if (!s->vf[n])
			continue;
		for (unsigned i = 0; i < 6; i++)
			at[i] = pci_sriov_vf_bar(s, n, i);
		pci_vf_place(s->vf[n], at, mse);
	}
}

static void enable(struct pci_sriov *s)
{
	struct pci_dev *pf = s->pf;
	unsigned bus = pci_dev_busnr(pf);
	if (!pf->bus)
		return;
	for (unsigned n = 0; n < s->num_vfs; n++) {
		int rid = pci_sriov_rid(bus, pf->devfn, s->offset, s->stride, n);
		struct pci_dev *vf = NULL;
		/* VFs live on the PF's bus here: a routing ID past it has no bus to sit on. */
		if (rid < 0 || (unsigned)rid >> 8 != bus || s->ops->vf_create(s->opaque, n, &vf)) {
			s->vf_errors++;
			continue;
		}
		if (pci_bus_plug(pf->bus, vf, pf->parent, (unsigned)rid & 0xff)) {
			s->vf_errors++;
			s->ops->vf_destroy(s->opaque, n);
			continue;
		}
		s->vf[n] = vf;
	}
	place(s);
}

void pci_sriov_disable(struct pci_sriov *s)
{
	for (unsigned n = 0; n < PCI_SRIOV_MAX_VFS; n++) {
		if (!s->vf[n])
			continue;
		if (s->vf[n]->bus)
			pci_bus_unplug(s->vf[n]->bus, s->vf[n]);
		s->vf[n] = NULL;
		s->ops->vf_destroy(s->opaque, n);
	}
}

static bool touches(uint32_t off, uint32_t len, uint32_t at, uint32_t size)
{
	return off < at + size && at < off + len;
}

void pci_sriov_cfg_written(struct pci_sriov *s, uint32_t off, uint32_t len)
{
	uint32_t c = (uint32_t)s->cap;
	if (!touches(off, len, c, PCI_SRIOV_SIZE))
		return;
	if (off < c) {
		len -= c - off;
		off = 0;
	} else {
		off -= c;
	}
	if (touches(off, len, PCI_SRIOV_NUM_VF, 2)) {
		uint16_t want = (uint16_t)reg(s, PCI_SRIOV_NUM_VF, 2);
		/* Read-only while VF Enable is set; never above TotalVFs. */
		if (want != s->num_vfs && ((s->ctrl & PCI_SRIOV_CTRL_VFE) || want > s->total)) {
			pci_cfg_set(s->pf, c + PCI_SRIOV_NUM_VF, s->num_vfs, 2);
			s->refused++;
		} else {
			s->num_vfs = want;
		}
	}
	if (touches(off, len, PCI_SRIOV_SYS_PGSIZE, 4) && reg(s, PCI_SRIOV_SYS_PGSIZE, 4) != 1) {
		pci_cfg_set(s->pf, c + PCI_SRIOV_SYS_PGSIZE, 1, 4); /* only 4 KiB is supported */
		s->refused++;
	}
	if (touches(off, len, PCI_SRIOV_CTRL, 2)) {
		uint16_t ctrl = (uint16_t)reg(s, PCI_SRIOV_CTRL, 2), was = s->ctrl;
		s->ctrl = ctrl;
		if ((was & PCI_SRIOV_CTRL_VFE) && !(ctrl & PCI_SRIOV_CTRL_VFE))
			pci_sriov_disable(s);
		else if (!(was & PCI_SRIOV_CTRL_VFE) && (ctrl & PCI_SRIOV_CTRL_VFE))
			enable(s);
		else if ((was ^ ctrl) & PCI_SRIOV_CTRL_MSE)
			place(s);
	}
	if (touches(off, len, PCI_SRIOV_BAR, 24))
		place(s);
}

void pci_sriov_host_enable(struct pci_sriov *s, unsigned nvfs)
{
	uint32_t c = (uint32_t)s->cap;
	s->num_vfs = (uint16_t)(nvfs < s->total ? nvfs : s->total);
	s->ctrl = PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE;
	pci_cfg_set(s->pf, c + PCI_SRIOV_NUM_VF, s->num_vfs, 2);
	pci_cfg_set(s->pf, c + PCI_SRIOV_CTRL, s->ctrl, 2);
}
