/* The virtio 1.x PCI transport (virtio v1.2, 4.1). */
#include "virtio_pci.h"
#include "vmm/kvm/kvm.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PCI_CAP_VENDOR 0x09

enum { CFG_COMMON = 1, CFG_NOTIFY = 2, CFG_ISR = 3, CFG_DEVICE = 4 };

static int add_vendor_cap(struct pci_dev *d, uint8_t type, uint32_t off, uint32_t len,
			  const uint32_t *mult)
{
	/* struct virtio_pci_cap after id/next: cap_len, cfg_type, bar, id, pad[2], offset, length
	 */
	uint8_t body[18] = {mult ? 20 : 16, type, 0, 0, 0, 0};
	memcpy(body + 6, &off, 4);
	memcpy(body + 10, &len, 4);
	if (mult)
		memcpy(body + 14, mult, 4);
	return pci_dev_add_cap(d, PCI_CAP_VENDOR, body, mult ? 18 : 14);
}

bool virtio_pci_signal(struct virtio_pci *vp, unsigned q)
{
	if (q >= vp->ops->nr_queues || !vq_should_signal(&vp->vq[q]))
		return false;
	vp->isr |= 1;
	pci_msix_notify(&vp->msix, vp->queue_msix[q]); /* no INTx offered: without MSI-X, the ISR */
	return true;
}

void virtio_pci_needs_reset(struct virtio_pci *vp)
{
	vp->status |= VIRTIO_STATUS_NEEDS_RESET;
	vp->isr |= 2;
	vp->st.bad_queue++;
	pci_msix_notify(&vp->msix, vp->config_msix);
}

static void reset(struct virtio_pci *vp)
{
	if (vp->ops->reset)
		vp->ops->reset(vp->dev);
	vp->status = 0;
	vp->isr = 0;
	vp->driver_features = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->qsel = 0;
	vp->config_msix = VIRTIO_MSI_NO_VECTOR;
	for (unsigned q = 0; q < VP_MAX_QUEUES; q++) {
		vq_reset(&vp->vq[q]);
		vp->vq[q].mem = &vp->mem;
		vp->queue_msix[q] = VIRTIO_MSI_NO_VECTOR;
		vp->queue_size[q] = vp->ops->queue_max;
		vp->queue_enabled[q] = false;
	}
}

static void set_status(struct virtio_pci *vp, uint8_t s)
{
	if (!s) {
		reset(vp);
		return;
	}
	/* 3.1.1: FEATURES_OK only for a subset of what we offer that includes VERSION_1. */
	if ((s & VIRTIO_STATUS_FEATURES_OK) && !(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
		if ((vp->driver_features & ~vp->features) ||
		    !(vp->driver_features & (1ull << VIRTIO_F_VERSION_1))) {
			vp->st.bad_features++;
			s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((s & VIRTIO_STATUS_DRIVER_OK) && !(vp->status & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(s & VIRTIO_STATUS_FEATURES_OK)) {
			vp->st.bad_access++;
			s &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		} else {
			vp->status = s;
			if (vp->ops->activate && vp->ops->activate(vp->dev, vp->driver_features))
				virtio_pci_needs_reset(vp);
			return;
		}
	}
	vp->status = (uint8_t)(s | (vp->status & VIRTIO_STATUS_NEEDS_RESET));
}

static void enable_queue(struct virtio_pci *vp, unsigned q)
{
	struct vq *vq = &vp->vq[q];
	vq->size = vp->queue_size[q];
	vq->event_idx = vp->driver_features & (1ull << VIRTIO_F_EVENT_IDX);
	if (vq_start(vq)) {
		virtio_pci_needs_reset(vp);
		return;
	}
	vp->queue_enabled[q] = true;
}

static uint64_t *queue_addr(struct virtio_pci *vp, unsigned q, uint32_t off)
{
	return off < VPC_Q_AVAIL  ? &vp->vq[q].desc_gpa
	       : off < VPC_Q_USED ? &vp->vq[q].avail_gpa
				  : &vp->vq[q].used_gpa;
}

static int common_read(struct virtio_pci *vp, uint32_t off, uint32_t len, uint64_t *v)
{
	unsigned q = vp->qsel;
	bool qok = q < vp->ops->nr_queues;
	switch (off) {
	case VPC_DFSELECT: *v = vp->dfselect; return len == 4;
	case VPC_DF:
		*v = vp->dfselect < 2 ? (uint32_t)(vp->features >> (32 * vp->dfselect)) : 0;
		return len == 4;
	case VPC_GFSELECT: *v = vp->gfselect; return len == 4;
	case VPC_GF:
		*v = vp->gfselect < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->gfselect)) : 0;
		return len == 4;
	case VPC_MSIX_CONFIG: *v = vp->config_msix; return len == 2;
	case VPC_NUM_QUEUES: *v = vp->ops->nr_queues; return len == 2;
	case VPC_STATUS: *v = vp->status; return len == 1;
	case VPC_CFG_GEN: *v = vp->config_gen; return len == 1;
	case VPC_Q_SELECT: *v = q; return len == 2;
	case VPC_Q_SIZE: *v = qok ? vp->queue_size[q] : 0; return len == 2;
	case VPC_Q_MSIX: *v = qok ? vp->queue_msix[q] : VIRTIO_MSI_NO_VECTOR; return len == 2;
	case VPC_Q_ENABLE: *v = qok && vp->queue_enabled[q]; return len == 2;
	case VPC_Q_NOFF: *v = q; return len == 2;
	}
	if (off >= VPC_Q_DESC && off < VPC_SIZE && qok && (len == 8 || len == 4)) {
		uint64_t a = *queue_addr(vp, q, off);
		*v = len == 8 ? a : (off & 4) ? a >> 32 : (uint32_t)a;
		return (off & 7) == 0 || len == 4;
	}
	*v = 0;
	return 0;
}

static int common_write(struct virtio_pci *vp, uint32_t off, uint32_t len, uint64_t v)
{
	unsigned q = vp->qsel;
	bool qok = q < vp->ops->nr_queues;
	bool configuring = !(vp->status & VIRTIO_STATUS_DRIVER_OK);
	switch (off) {
	case VPC_DFSELECT: vp->dfselect = (uint32_t)v; return len == 4;
	case VPC_GFSELECT: vp->gfselect = (uint32_t)v; return len == 4;
	case VPC_GF:
		if (len != 4 || vp->gfselect >= 2 || (vp->status & VIRTIO_STATUS_FEATURES_OK))
			return 0;
		vp->driver_features &= ~(0xffffffffull << (32 * vp->gfselect));
		vp->driver_features |= (v & 0xffffffffull) << (32 * vp->gfselect);
		return 1;
	case VPC_MSIX_CONFIG:
		vp->config_msix = v < VP_MSIX_VECTORS ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		return len == 2;
	case VPC_STATUS: set_status(vp, (uint8_t)v); return len == 1;
	case VPC_Q_SELECT: vp->qsel = (uint16_t)v; return len == 2;
	case VPC_Q_SIZE:
		/* 4.1.4.3.2: a power of 2 no larger than what we offer. */
		if (len != 2 || !qok || !configuring || !v || v > vp->ops->queue_max ||
		    (v & (v - 1)))
			return 0;
		vp->queue_size[q] = (uint16_t)v;
		return 1;
	case VPC_Q_MSIX:
		if (len != 2 || !qok)
			return 0;
		vp->queue_msix[q] = v < VP_MSIX_VECTORS ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		return 1;
	case VPC_Q_ENABLE:
		if (len != 2 || !qok || v != 1 || vp->queue_enabled[q])
			return 0;
		enable_queue(vp, q);
		return 1;
	}
	if (off >= VPC_Q_DESC && off < VPC_SIZE && qok && configuring && (len == 8 || len == 4)) {
		uint64_t *a = queue_addr(vp, q, off);
		if (len == 8 && !(off & 7))
			*a = v;
		else if (len == 4 && (off & 4))
			*a = (*a & 0xffffffffull) | v << 32;
		else if (len == 4)
			*a = (*a & ~0xffffffffull) | (uint32_t)v;
		else
			return 0;
		return 1;
	}
	return 0;
}

static int bar_access(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len,
		      bool is_write)
{
	struct virtio_pci *vp = d->opaque;
	uint64_t v = 0;
	int ok = 0;

	pthread_mutex_lock(&vp->lock);
	if (bar == 0 && off < VP_COMMON + VPC_SIZE) {
		if (is_write) {
			memcpy(&v, data, len > 8 ? 8 : len);
			ok = common_write(vp, (uint32_t)off, len, v);
		} else {
			ok = common_read(vp, (uint32_t)off, len, &v);
			memcpy(data, &v, len > 8 ? 8 : len);
		}
	} else if (bar == 0 && off == VP_ISR && len == 1 && !is_write) {
		*(uint8_t *)data = vp->isr; /* 4.1.4.5: reading clears it */
		vp->isr = 0;
		ok = 1;
	} else if (bar == 0 && off >= VP_DEVICE && off + len <= VP_DEVICE + vp->ops->config_size) {
		if (!is_write) {
			vp->ops->read_config(vp->dev, (uint32_t)(off - VP_DEVICE), data, len);
			ok = 1;
		}
	} else if (bar == 0 && off >= VP_NOTIFY &&
		   off < VP_NOTIFY + (uint64_t)VP_NOTIFY_MULT * vp->ops->nr_queues) {
		if (is_write && vp->ops->notify) {
			vp->st.notify_traps++;
			vp->ops->notify(vp->dev, (unsigned)(off - VP_NOTIFY) / VP_NOTIFY_MULT);
			ok = 1;
		}
	} else if (pci_msix_claims(&vp->msix, bar, off)) {
		pci_msix_access(&vp->msix, off, data, len, is_write);
		ok = 1; /* its own faults are its own count */
	}
	if (!ok) {
		vp->st.bad_access++;
		if (!is_write)
			memset(data, 0, len > 8 ? 8 : len);
	}
	pthread_mutex_unlock(&vp->lock);
	return 0;
}

static void notify_ioeventfds(struct virtio_pci *vp, uint64_t base, bool assign)
{
	for (unsigned q = 0; q < vp->ops->nr_queues && vp->accel; q++)
		if (accel_ioeventfd(vp->accel, IO_MMIO, base + VP_NOTIFY + VP_NOTIFY_MULT * q, 2,
				    vp->notify_fd[q], assign) < 0)
			vp->st.bad_access++;
}

/* The notification ioeventfds follow BAR0 wherever the guest puts it. */
static void bar_moved(struct pci_dev *d, unsigned bar, uint64_t addr)
{
	struct virtio_pci *vp = d->opaque;
	if (bar != 0)
		return;
	if (vp->notify_base)
		notify_ioeventfds(vp, vp->notify_base, false);
	vp->notify_base = addr;
	if (addr)
		notify_ioeventfds(vp, addr, true);
}

static void cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = d->opaque;
	pthread_mutex_lock(&vp->lock);
	pci_msix_cfg_written(&vp->msix, off, len);
	pthread_mutex_unlock(&vp->lock);
}

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_ops *ops, void *dev,
		    const struct guest_mem *mem, struct irq_router *irq, const struct accel *accel)
{
	const uint32_t mult = VP_NOTIFY_MULT;
	int r;

	memset(vp, 0, sizeof(*vp));
	if (ops->nr_queues > VP_MAX_QUEUES || ops->queue_max > VQ_MAX_SIZE)
		return -EINVAL;
	vp->ops = ops;
	vp->dev = dev;
	vp->mem = *mem;
	vp->irq = irq;
	vp->accel = accel;
	vp->features = ops->features | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_EVENT_IDX;
	pthread_mutex_init(&vp->lock, NULL);
	for (unsigned i = 0; i < VP_MAX_QUEUES; i++)
		vp->notify_fd[i] = -1;

	/* 4.1.2: vendor 0x1af4, device 0x1040 + id, revision 1 (modern), class from the device. */
	pci_dev_init(&vp->pci, "virtio", 0x1af4, (uint16_t)(0x1040 + ops->device_id),
		     ops->device_id == 1 ? 0x020000 : 0xff0000, 1, 0x1af4, ops->device_id);
	vp->pci.bar_access = bar_access;
	vp->pci.bar_moved = bar_moved;
	vp->pci.cfg_written = cfg_written;
	vp->pci.opaque = vp;
	r = pci_dev_add_bar(&vp->pci, 0, VP_BAR_SIZE, false);
	if (r)
		return r;
	if (add_vendor_cap(&vp->pci, CFG_COMMON, VP_COMMON, VPC_SIZE, NULL) < 0 ||
	    add_vendor_cap(&vp->pci, CFG_NOTIFY, VP_NOTIFY, VP_NOTIFY_MULT * ops->nr_queues,
			   &mult) < 0 ||
	    add_vendor_cap(&vp->pci, CFG_ISR, VP_ISR, 1, NULL) < 0 ||
	    add_vendor_cap(&vp->pci, CFG_DEVICE, VP_DEVICE, ops->config_size, NULL) < 0)
		return -ENOSPC;
	r = pci_msix_init(&vp->msix, &vp->pci, irq, VP_MSIX_VECTORS, 0, VP_MSIX_TABLE, VP_MSIX_PBA);
	if (r)
		return r;
	for (unsigned q = 0; q < ops->nr_queues; q++) {
		vp->notify_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vp->notify_fd[q] < 0)
			return -errno;
	}
	reset(vp);
	return 0;
}

void virtio_pci_exit(struct virtio_pci *vp)
{
	if (vp->notify_base)
		notify_ioeventfds(vp, vp->notify_base, false);
	for (unsigned q = 0; q < VP_MAX_QUEUES; q++)
		if (vp->notify_fd[q] >= 0)
			close(vp->notify_fd[q]);
	pci_msix_exit(&vp->msix);
	pthread_mutex_destroy(&vp->lock);
}

int virtio_pci_notify_fd(struct virtio_pci *vp, unsigned q)
{
	return q < vp->ops->nr_queues ? vp->notify_fd[q] : -1;
}
