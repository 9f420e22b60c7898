/* virtio-net (virtio 1.x, 5.1): one rx and one tx queue, MAC and link status. It runs on the
 * network side's poller thread (vmm/net/net.h): notifications are ioeventfds watched there,
 * received frames arrive there. Packets never pass through the vCPU thread. */
#ifndef VMSCOPE_VIRTIO_NET_H
#define VMSCOPE_VIRTIO_NET_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio_pci.h"
#include "vmm/net/net.h"
#include "vmm/nic.h"

#define VIRTIO_NET_F_MAC    5
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_HDR_LEN  12 /* struct virtio_net_hdr with num_buffers (5.1.6) */
#define VNET_RXQ	    0
#define VNET_TXQ	    1

/* virtio-net's own counters (the totals are struct nic_stats); written by the poller only. */
struct virtio_net_stats {
	uint64_t rx_backlogged;	   /* frames that had to wait for an rx buffer */
	uint64_t rx_too_big;	   /* frames longer than the buffer the guest posted (dropped) */
	uint64_t tx_notifications; /* the driver's tx queue notifications (ioeventfd signals: each
				    * one an exit KVM handled in the kernel) */
	uint64_t rx_notifications; /* the same on the rx queue (new buffers after a full ring) */
};

#define VNET_BACKLOG 512 /* frames held while the guest has no rx buffer */

struct virtio_net {
	struct nic nic; /* first: the model table's handle */
	struct virtio_pci vp;
	/* Backpressure (as vhost-net): frames wait here for rx buffers; dropped only when full. */
	uint8_t (*backlog)[NET_FRAME_MAX];
	uint32_t backlog_len[VNET_BACKLOG];
	unsigned bl_head, bl_count;
	struct net *net;
	struct net_backend *be; /* net->be, used on the poller's thread only */
	uint8_t mac[6];
	bool attached, active;
	struct nic_stats st;
	struct virtio_net_stats vst;
};

/* The card for env (its MAC, the link, guest memory, the irq router, the VM). */
int virtio_net_init(struct virtio_net *n, const struct nic_env *env);
/* Attaches to the network side: its notifications are watched, received frames come here. */
int virtio_net_start(struct virtio_net *n);
/* Detaches (no callback runs after this) and frees the transport. */
void virtio_net_exit(struct virtio_net *n);
/* The backend's receive callback (also used by tests). */
void virtio_net_rx(void *opaque, const uint8_t *frame, uint32_t len);
/* Drains the tx queue into the backend while it has room (the poller calls it on each notification
 * and when the backend has room again). */
void virtio_net_tx(struct virtio_net *n);

#endif
