/* virtio-net device (virtio v1.2, 5.1). The transport below it knows no packets; the backend
 * below that knows no rings. */
#include "net.h"
#include "vmm/counters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void net_read_config(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *n = dev;
	uint8_t cfg[8];
	memcpy(cfg, n->mac, 6);
	cfg[6] = 1; /* status: VIRTIO_NET_S_LINK_UP */
	cfg[7] = 0;
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static int net_activate(void *dev, uint64_t features)
{
	struct virtio_net *n = dev;
	/* We need both queues; a driver that did not enable them cannot move packets. */
	if (!n->vp.vq[VNET_RXQ].ready || !n->vp.vq[VNET_TXQ].ready)
		return -EINVAL;
	__atomic_store_n(&n->active, true, __ATOMIC_RELEASE);
	/* A notification that came before DRIVER_OK found the queue unusable: drain once now. */
	uint64_t one = 1;
	if (write(virtio_pci_notify_fd(&n->vp, VNET_TXQ), &one, sizeof(one)) < 0) {
		/* counter saturated: a wake-up is pending anyway */
	}
	return 0;
}

static void net_reset(void *dev)
{
	struct virtio_net *n = dev;
	__atomic_store_n(&n->active, false, __ATOMIC_RELEASE);
	n->bl_head = n->bl_count = 0; /* frames for a reset driver are gone */
}

static void net_notify(void *dev, unsigned q)
{
	struct virtio_net *n = dev;
	uint64_t one = 1;
	/* Slow path (no ioeventfd): hand the notification to the I/O thread like an ioeventfd
	 * would. */
	int fd = virtio_pci_notify_fd(&n->vp, q);
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* counter saturated: a wake-up is pending anyway */
	}
}

static const struct virtio_device_ops net_ops = {
    .device_id = 1,
    .nr_queues = 2,
    .queue_max = 1024,
    .features = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS,
    .config_size = 8,
    .read_config = net_read_config,
    .activate = net_activate,
    .reset = net_reset,
    .notify = net_notify,
};

static bool queue_usable(struct virtio_net *n, unsigned q)
{
	return __atomic_load_n(&n->active, __ATOMIC_ACQUIRE) && n->vp.vq[q].ready &&
	       !n->vp.vq[q].broken;
}

static void ring_error(struct virtio_net *n)
{
	CNT_ADD(n->st.ring_errors, 1);
	virtio_pci_needs_reset(&n->vp);
}

/* Puts one frame into the guest's rx ring: 1 done, 0 no buffer, -1 the ring is broken. */
static int deliver(struct virtio_net *n, const uint8_t *frame, uint32_t len)
{
	static __thread struct vq_chain chain;
	struct vq *vq = &n->vp.vq[VNET_RXQ];
	int r = vq_pop(vq, &chain);
	if (r < 0) {
		ring_error(n);
		return -1;
	}
	if (r == 0)
		return 0;
	if (chain.read_len || chain.write_len < VIRTIO_NET_HDR_LEN + len) {
		/* A device-readable rx buffer or one too small: return it empty. */
		CNT_ADD(n->vst.rx_too_big, 1);
		vq_push(vq, chain.head, 0);
		goto notify;
	}
	/* 5.1.6.4: header (no offloads, one buffer), then the frame, scattered over the chain. */
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = {0};
	hdr[10] = 1; /* num_buffers */
	const uint8_t *src[2] = {hdr, frame};
	uint32_t left[2] = {VIRTIO_NET_HDR_LEN, len}, part = 0;
	for (unsigned i = 0; i < chain.nr && part < 2; i++) {
		uint8_t *dst = chain.seg[i].ptr;
		uint32_t room = chain.seg[i].len;
		while (room && part < 2) {
			uint32_t c = left[part] < room ? left[part] : room;
			memcpy(dst, src[part], c);
			dst += c, room -= c, src[part] += c, left[part] -= c;
			if (!left[part])
				part++;
		}
	}
	vq_push(vq, chain.head, VIRTIO_NET_HDR_LEN + len);
	CNT_ADD(n->st.rx_packets, 1);
	CNT_ADD(n->st.rx_bytes, len);
notify:
	virtio_pci_signal(&n->vp, VNET_RXQ);
	return 1;
}

/* Older frames first; when the ring runs dry, ask the driver to notify us (2.7.10). */
static void drain_backlog(struct virtio_net *n)
{
	while (n->bl_count) {
		int r = deliver(n, n->backlog[n->bl_head], n->backlog_len[n->bl_head]);
		if (r < 0) {
			n->bl_count = 0;
			return;
		}
		if (r == 0) {
			if (!vq_enable_notify(&n->vp.vq[VNET_RXQ], true))
				return;
			continue; /* buffers arrived meanwhile */
		}
		n->bl_head = (n->bl_head + 1) % VNET_BACKLOG;
		n->bl_count--;
	}
}

void virtio_net_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->vp.lock);
	if (!queue_usable(n, VNET_RXQ) || len > NET_FRAME_MAX) {
		CNT_ADD(n->st.rx_no_buffer, 1);
		goto out;
	}
	drain_backlog(n);
	if (!n->bl_count && deliver(n, frame, len) != 0)
		goto out;
	if (n->bl_count == VNET_BACKLOG) {
		CNT_ADD(n->st.rx_no_buffer, 1);
		goto out;
	}
	unsigned tail = (n->bl_head + n->bl_count++) % VNET_BACKLOG;
	memcpy(n->backlog[tail], frame, len);
	n->backlog_len[tail] = len;
	CNT_ADD(n->vst.rx_backlogged, 1);
	vq_enable_notify(&n->vp.vq[VNET_RXQ], true);
out:
	pthread_mutex_unlock(&n->vp.lock);
}

void virtio_net_tx(struct virtio_net *n)
{
	static __thread struct vq_chain chain;
	struct iovec iov[VQ_MAX_SIZE];
	struct vq *vq = &n->vp.vq[VNET_TXQ];
	bool pushed = false;

	pthread_mutex_lock(&n->vp.lock);
	if (!queue_usable(n, VNET_TXQ))
		goto out;
	/* 2.7.10: no notifications while we drain; re-enable and re-check before sleeping. */
	vq_enable_notify(vq, false);
	for (;;) {
		/* Backpressure, as a NIC's tx FIFO gives it: descriptors stay in the ring until the
		 * link takes frames again (tx_ready), and the guest sees its ring fill up. */
		if (!n->be->ops->tx_room(n->be)) {
			n->be->tx_waiting = true;
			CNT_ADD(n->st.tx_backpressure, 1);
			break;
		}
		int r = vq_pop(vq, &chain);
		if (r < 0) {
			ring_error(n);
			goto out;
		}
		if (r == 0) {
			if (!vq_enable_notify(vq, true))
				break;
			vq_enable_notify(vq, false);
			continue;
		}
		/* Skip the header, gather the frame. */
		uint32_t skip = VIRTIO_NET_HDR_LEN, total = 0;
		unsigned niov = 0;
		for (unsigned i = 0; i < chain.nr; i++) {
			uint32_t off = skip < chain.seg[i].len ? skip : chain.seg[i].len;
			skip -= off;
			if (chain.seg[i].len > off) {
				iov[niov++] =
				    (struct iovec){chain.seg[i].ptr + off, chain.seg[i].len - off};
				total += chain.seg[i].len - off;
			}
		}
		if (skip || chain.write_len || total < 14 || total > NET_FRAME_MAX) {
			CNT_ADD(n->st.tx_malformed, 1);
		} else if (net_port_send(n->be, n, iov, niov) == 0) {
			CNT_ADD(n->st.tx_packets, 1);
			CNT_ADD(n->st.tx_bytes, total);
		} else {
			CNT_ADD(n->st.tx_dropped, 1);
		}
		vq_push(vq, chain.head, 0);
		pushed = true;
	}
out:
	if (pushed)
		virtio_pci_signal(&n->vp, VNET_TXQ);
	pthread_mutex_unlock(&n->vp.lock);
}

static void on_tx_notify(void *opaque, uint64_t count)
{
	struct virtio_net *n = opaque;
	CNT_ADD(n->vst.tx_notifications, count);
	virtio_net_tx(n);
}

static void on_rx_notify(void *opaque, uint64_t count)
{
	struct virtio_net *n = opaque;
	CNT_ADD(n->vst.rx_notifications, count);
	/* The guest posted rx buffers: frames waiting for them go now. */
	pthread_mutex_lock(&n->vp.lock);
	if (queue_usable(n, VNET_RXQ))
		drain_backlog(n);
	pthread_mutex_unlock(&n->vp.lock);
}

static void on_tx_ready(void *opaque)
{
	virtio_net_tx(opaque);
}

int virtio_net_init(struct virtio_net *n, const struct nic_env *env)
{
	struct nic handle = n->nic;
	memset(n, 0, sizeof(*n));
	n->nic = handle;
	memcpy(n->mac, env->mac, 6);
	n->net = env->net;
	n->be = env->net->be;
	int r = virtio_pci_init(&n->vp, &net_ops, n, env->mem, env->irq, env->accel);
	if (r)
		return r;
	n->backlog = malloc(sizeof(*n->backlog) * VNET_BACKLOG);
	return n->backlog ? 0 : -ENOMEM;
}

int virtio_net_start(struct virtio_net *n)
{
	struct net_port port = {.rx = virtio_net_rx, .tx_ready = on_tx_ready, .opaque = n};
	memcpy(port.mac, n->mac, 6);
	const struct net_card_watch w[] = {{virtio_pci_notify_fd(&n->vp, VNET_TXQ), on_tx_notify},
					   {virtio_pci_notify_fd(&n->vp, VNET_RXQ), on_rx_notify}};
	n->attached = true; /* watches may be in place even on failure: detach removes them */
	return net_attach_card(n->net, &port, w, 2);
}

void virtio_net_exit(struct virtio_net *n)
{
	if (n->attached)
		net_detach(n->net, n);
	n->attached = false;
	virtio_pci_exit(&n->vp);
	free(n->backlog);
}

static void vnic_read(struct nic *nic, struct nic_readout *out)
{
	struct virtio_net *n = (struct virtio_net *)nic;
	struct virtio_net_stats v;
	counters_copy(&out->total, &n->st, sizeof(out->total));
	counters_copy(&v, &n->vst, sizeof(v));
	/* Only the transport knows whether a message really went out (MSI-X on, vector unmasked).
	 */
	out->total.interrupts = __atomic_load_n(&n->vp.msix.sent, __ATOMIC_RELAXED);
	out->total.reg_traps = __atomic_load_n(&n->vp.pci.bar_exits, __ATOMIC_RELAXED);
	/* A notification that trapped (no ioeventfd there) was handed on through the notification
	 * eventfd: it is one exit, already in reg_traps. */
	uint64_t traps = __atomic_load_n(&n->vp.st.notify_traps, __ATOMIC_RELAXED);
	uint64_t notes = v.tx_notifications + v.rx_notifications;
	out->total.notify_events = notes > traps ? notes - traps : 0;
	out->total.reg_bad = __atomic_load_n(&n->vp.st.bad_access, __ATOMIC_RELAXED) +
			     __atomic_load_n(&n->vp.msix.bad, __ATOMIC_RELAXED);
	nic_extra(out, "tx_notifications", v.tx_notifications);
	nic_extra(out, "rx_notifications", v.rx_notifications);
	nic_extra(out, "notify_traps", traps);
	nic_extra(out, "rx_backlogged", v.rx_backlogged);
	nic_extra(out, "rx_too_big", v.rx_too_big);
}

NIC_MODEL_GLUE(virtio_net, vp.pci)

const struct nic_model nic_model_virtio = {
    .name = "virtio",
    .chip = "virtio-net 1.x",
    .mode = NIC_MODE_VIRTIO,
    NIC_MODEL_STEPS(virtio_net),
    .read = vnic_read,
};
