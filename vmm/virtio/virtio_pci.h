/* The virtio 1.x PCI transport (modern only, 4.1): capabilities, common configuration, notify,
 * ISR, device configuration and MSI-X. It never parses packets; devices never touch PCI. */
#ifndef VMSCOPE_VIRTIO_PCI_H
#define VMSCOPE_VIRTIO_PCI_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"
#include "vmm/irq.h"
#include "vmm/pci/pci.h"
#include "vmm/pci/pci_msix.h"

#define VIRTIO_F_EVENT_IDX	  29
#define VIRTIO_F_VERSION_1	  32
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED	  128
#define VIRTIO_MSI_NO_VECTOR	  0xffff

#define VP_MAX_QUEUES	4
#define VP_MSIX_VECTORS 4

/* BAR0 layout (16 KiB). */
#define VP_COMMON      0x0000
#define VP_ISR	       0x1000
#define VP_DEVICE      0x2000
#define VP_NOTIFY      0x3000
#define VP_NOTIFY_MULT 4
#define VP_MSIX_TABLE  0x3800
#define VP_MSIX_PBA    0x3c00
#define VP_BAR_SIZE    0x4000

/* Common configuration offsets (4.1.4.3). */
enum {
	VPC_DFSELECT = 0x00,
	VPC_DF = 0x04,
	VPC_GFSELECT = 0x08,
	VPC_GF = 0x0c,
	VPC_MSIX_CONFIG = 0x10,
	VPC_NUM_QUEUES = 0x12,
	VPC_STATUS = 0x14,
	VPC_CFG_GEN = 0x15,
	VPC_Q_SELECT = 0x16,
	VPC_Q_SIZE = 0x18,
	VPC_Q_MSIX = 0x1a,
	VPC_Q_ENABLE = 0x1c,
	VPC_Q_NOFF = 0x1e,
	VPC_Q_DESC = 0x20,
	VPC_Q_AVAIL = 0x28,
	VPC_Q_USED = 0x30,
	VPC_SIZE = 0x38,
};

struct virtio_pci;

/* A virtio device (net, ...) as the transport sees it. */
struct virtio_device_ops {
	uint16_t device_id; /* 1: network */
	uint16_t nr_queues;
	uint16_t queue_max;
	uint64_t features; /* device-specific; the transport adds VERSION_1 and EVENT_IDX */
	uint32_t config_size;
	void (*read_config)(void *dev, uint32_t off, void *data, uint32_t len);
	/* DRIVER_OK: queues are configured and started. Nonzero: the device cannot run. */
	int (*activate)(void *dev, uint64_t features);
	void (*reset)(void *dev);
	/* A queue notification that did not go through an ioeventfd (no KVM, or the BAR moved
	 * meanwhile). */
	void (*notify)(void *dev, unsigned queue);
};

struct virtio_pci_stats {
	uint64_t bad_access;   /* accesses to nothing, of the wrong size, or read-only writes */
	uint64_t bad_features; /* FEATURES_OK refused */
	uint64_t bad_queue;    /* a queue the driver configured wrongly: NEEDS_RESET */
	uint64_t notify_traps; /* queue notifications that reached userspace (no ioeventfd there) */
};

struct virtio_pci {
	struct pci_dev pci;
	const struct virtio_device_ops *ops;
	void *dev;
	struct guest_mem mem;
	struct irq_router *irq;
	const struct accel *accel; /* NULL: no ioeventfds (every notify traps) */
	pthread_mutex_t lock;

	uint64_t features, driver_features;
	uint32_t dfselect, gfselect;
	uint8_t status, config_gen, isr;
	uint16_t qsel, config_msix;
	struct vq vq[VP_MAX_QUEUES];
	uint16_t queue_msix[VP_MAX_QUEUES];
	uint16_t queue_size[VP_MAX_QUEUES];
	bool queue_enabled[VP_MAX_QUEUES];

	struct pci_msix msix; /* table and PBA in BAR0 */

	int notify_fd[VP_MAX_QUEUES];
	uint64_t notify_base; /* where the notify ioeventfds sit (BAR0 + VP_NOTIFY) */
	struct virtio_pci_stats st;
};

/* Builds the PCI function for a device; irq may be shared by all devices of the VM. */
int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_ops *ops, void *dev,
		    const struct guest_mem *mem, struct irq_router *irq, const struct accel *accel);
void virtio_pci_exit(struct virtio_pci *vp);
/* The device pushed used buffers on a queue: interrupt the driver if it wants one (true). */
bool virtio_pci_signal(struct virtio_pci *vp, unsigned queue);
/* The device found the driver broke a queue: NEEDS_RESET and a config interrupt (2.1.2). */
void virtio_pci_needs_reset(struct virtio_pci *vp);
/* The eventfd a queue's notifications land on (for the device's I/O thread), or -1. */
int virtio_pci_notify_fd(struct virtio_pci *vp, unsigned queue);

#endif
