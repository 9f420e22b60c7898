/* The e1000's descriptor rings (SDM 3.2, 3.3): transmit from TDH to TDT, receive into the
 * buffers RDH..RDT offer, with the statistics registers they move (SDM 13.7). The ring bases,
 * lengths, indices and every buffer are guest-controlled: each is checked (guest_mem.h) and
 * counted when wrong. Called with the card's lock held, or taking it (e1000_tx, e1000_rx). */
#include <string.h>
#include <sys/uio.h>

#include "vmm/counters.h"
#include "vmm/e1000/e1000_impl.h"
#include "vmm/net/net.h"

/* ---- statistics (SDM 13.7): 32-bit counters saturate; 64-bit ones are a low/high pair ---- */

static void stat_add(struct e1000 *e, uint32_t r, uint32_t n)
{
	uint32_t *c = &R(e, r);
	*c = *c + n < *c ? 0xffffffffu : *c + n;
}

static void stat_add64(struct e1000 *e, uint32_t lo, uint64_t n)
{
	uint64_t v = (uint64_t)R(e, lo + 4) << 32 | R(e, lo);
	v += n;
	R(e, lo) = (uint32_t)v;
	R(e, lo + 4) = (uint32_t)(v >> 32);
}

/* ---- rings ---- */

/* A ring's descriptor count, or 0 (counted) when its base and length do not make one. */
static uint32_t ring_size(struct e1000 *e, uint32_t bal, uint32_t len_reg, uint64_t *base)
{
	uint32_t len = R(e, len_reg);
	*base = (uint64_t)R(e, bal + 4) << 32 | R(e, bal);
	if (!len)
		return 0;
	/* SDM 13.4.27/13.4.37: length a multiple of 128 bytes, base 16-byte aligned. */
	if ((len & 127) || (*base & 15) || !gpa_ring(&e->mem, *base, len / 16, 16)) {
		CNT_ADD(e->est.ring_bad_base, 1);
		CNT_ADD(e->st.ring_errors, 1);
		return 0;
	}
	return len / 16;
}

static bool ring_indices_ok(struct e1000 *e, uint32_t n, uint32_t head, uint32_t tail)
{
	if (head < n && tail < n)
		return true;
	CNT_ADD(e->est.ring_bad_index, 1);
	CNT_ADD(e->st.ring_errors, 1);
	return false;
}

/* A frame being gathered from its descriptors. */
struct tx_frame {
	struct iovec iov[16];
	unsigned niov;
	uint32_t total;
	bool bad; /* a buffer outside guest memory, or too many or too long: dropped at EOP */
};

/* A data descriptor's length (legacy, or extended DTYP 1 with 20 bits); false: an extended
 * context descriptor (DTYP 0), which only sets up offloads (SDM 3.3.3-3.3.7). */
static bool tx_desc_data(struct e1000 *e, const struct e1000_desc *d, uint32_t *len)
{
	*len = (uint32_t)d->b[0] | (uint32_t)d->b[1] << 8;
	if (!(d->b[3] & E1000_TXD_CMD_DEXT))
		return true;
	uint32_t dw2;
	memcpy(&dw2, d->b, 4);
	*len = dw2 & 0xfffff;
	if (((dw2 >> 20) & 0xf) == 1)
		return true;
	CNT_ADD(e->est.tx_context, 1);
	return false;
}

static void tx_gather(struct e1000 *e, struct tx_frame *f, uint64_t addr, uint32_t len)
{
	void *p = gpa_ptr(&e->mem, addr, len);
	if (!p) {
		CNT_ADD(e->est.desc_bad_addr, 1);
		f->bad = true;
	} else if (f->niov == 16 || f->total + len > NET_FRAME_MAX) {
		f->bad = true;
	} else {
		f->iov[f->niov++] = (struct iovec){p, len};
		f->total += len;
	}
}

/* EOP: the frame goes to the link (or is counted as what stopped it), and a new one begins. */
static void tx_send(struct e1000 *e, struct tx_frame *f)
{
	if (f->bad || f->total < 14) {
		CNT_ADD(e->st.tx_malformed, 1);
	} else if (net_port_send(e->be, e, f->iov, f->niov) == 0) {
		CNT_ADD(e->st.tx_packets, 1);
		CNT_ADD(e->st.tx_bytes, f->total);
		stat_add(e, E1000_GPTC, 1);
		stat_add(e, E1000_TPT, 1);
		stat_add64(e, E1000_GOTCL, f->total);
		stat_add64(e, E1000_TOTL, f->total);
	} else {
		CNT_ADD(e->st.tx_dropped, 1);
	}
	f->niov = 0;
	f->total = 0;
	f->bad = false;
}

void e1000_tx(struct e1000 *e)
{
	struct tx_frame f = {.niov = 0};
	uint32_t n;
	uint64_t base;
	bool wrote_back = false;

	pthread_mutex_lock(&e->lock);
	if (!(R(e, E1000_TCTL) & E1000_TCTL_EN) ||
	    !(n = ring_size(e, E1000_TDBAL, E1000_TDLEN, &base)))
		goto out;
	/* At most one ring's worth per call: a guest moving TDT meanwhile cannot keep us here. */
	for (uint32_t budget = n; budget; budget--) {
		uint32_t head = R(e, E1000_TDH), tail = R(e, E1000_TDT), len;
		if (head == tail || !ring_indices_ok(e, n, head, tail))
			break;
		if (!f.niov && !e->be->ops->tx_room(e->be)) {
			e->be->tx_waiting = true;
			CNT_ADD(e->st.tx_backpressure, 1);
			break;
		}
		struct e1000_desc d;
		gpa_read(&e->mem, base + 16ull * head, &d, sizeof(d)); /* bounded by ring_size() */
		bool data = tx_desc_data(e, &d, &len);
		if (data && len)
			tx_gather(e, &f, d.addr, len);
		if (data && (d.b[3] & E1000_TXD_CMD_EOP))
			tx_send(e, &f);
		if (d.b[3] & E1000_TXD_CMD_RS) {
			uint8_t sta = d.b[4] | E1000_TXD_STA_DD;
			gpa_write(&e->mem, base + 16ull * head + 12, &sta, 1);
			wrote_back = true;
		}
		CNT_ADD(e->est.tx_descriptors, 1);
		R(e, E1000_TDH) = (head + 1) % n;
	}
	/* A frame cut off by the ring's end or a stop waits: its descriptors are already consumed,
	 * as on the chip (they are in its FIFO), so it is counted malformed rather than sent half.
	 */
	if (f.niov)
		CNT_ADD(e->st.tx_malformed, 1);
	if (wrote_back || R(e, E1000_TDH) == R(e, E1000_TDT))
		e1000_raise(e, (wrote_back ? E1000_ICR_TXDW : 0) |
				   (R(e, E1000_TDH) == R(e, E1000_TDT) ? E1000_ICR_TXQE : 0));
out:
	pthread_mutex_unlock(&e->lock);
}

/* ---- receive ---- */

static uint32_t rx_buffer_size(uint32_t rctl)
{
	static const uint32_t plain[4] = {2048, 1024, 512, 256}, ext[4] = {2048, 16384, 8192, 4096};
	unsigned bsize = (rctl >> 16) & 3;
	return (rctl & E1000_RCTL_BSEX) ? ext[bsize] : plain[bsize];
}

/* The receive filter (SDM 3.2.1): exact addresses in RAL/RAH with AV, the multicast table by
 * the bits RCTL.MO picks, broadcast with BAM, promiscuous with UPE/MPE. */
static bool rx_accept(struct e1000 *e, const uint8_t *dst)
{
	uint32_t rctl = R(e, E1000_RCTL);
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	if (!memcmp(dst, bcast, 6))
		return rctl & E1000_RCTL_BAM;
	if (dst[0] & 1) {
		if (rctl & E1000_RCTL_MPE)
			return true;
		unsigned mo = (rctl >> 12) & 3;
		uint32_t hash =
		    ((uint32_t)dst[4] >> (4 - mo) | (uint32_t)dst[5] << (4 + mo)) & 0xfff;
		return (R(e, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31)) & 1;
	}
	if (rctl & E1000_RCTL_UPE)
		return true;
	for (unsigned i = 0; i < 16; i++) {
		uint32_t lo = R(e, E1000_RA + 8 * i), hi = R(e, E1000_RA + 8 * i + 4);
		uint8_t a[6] = {(uint8_t)lo,	     (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
				(uint8_t)(lo >> 24), (uint8_t)hi,	 (uint8_t)(hi >> 8)};
		if ((hi & E1000_RAH_AV) && !memcmp(a, dst, 6))
			return true;
	}
	return false;
}

void e1000_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	struct e1000 *e = opaque;
	uint32_t n, cause = 0;
	uint64_t base;

	pthread_mutex_lock(&e->lock);
	uint32_t rctl = R(e, E1000_RCTL);
	if (!(rctl & E1000_RCTL_EN) || !(R(e, E1000_STATUS) & E1000_STATUS_LU) || len < 14 ||
	    !(n = ring_size(e, E1000_RDBAL, E1000_RDLEN, &base))) {
		CNT_ADD(e->st.rx_no_buffer, 1);
		goto out;
	}
	if (!rx_accept(e, frame)) {
		CNT_ADD(e->st.rx_filtered, 1);
		goto out;
	}
	uint32_t head = R(e, E1000_RDH), tail = R(e, E1000_RDT);
	if (!ring_indices_ok(e, n, head, tail)) {
		CNT_ADD(e->st.rx_no_buffer, 1);
		goto out;
	}
	/* The frame spans as many buffers as it needs; all must be free before any is used. */
	uint32_t bufsz = rx_buffer_size(rctl), need = (len + bufsz - 1) / bufsz;
	uint32_t free_desc = (tail + n - head) % n;
	if (free_desc < need) {
		CNT_ADD(e->st.rx_no_buffer, 1);
		CNT_ADD(e->est.rx_overrun, 1);
		stat_add(e, E1000_MPC, 1);
		stat_add(e, E1000_RNBC, 1);
		cause |= E1000_ICR_RXO;
		goto irq;
	}
	for (uint32_t done = 0, i = 0; i < need; i++) {
		struct e1000_desc d;
		uint64_t at = base + 16ull * head;
		uint32_t chunk = len - done < bufsz ? len - done : bufsz;
		gpa_read(&e->mem, at, &d, sizeof(d));
		if (!gpa_write(&e->mem, d.addr, frame + done, chunk)) {
			CNT_ADD(e->est.desc_bad_addr, 1);
			chunk = 0; /* the descriptor comes back empty */
		}
		done += chunk;
		uint8_t wb[8] = {
		    (uint8_t)chunk,
		    (uint8_t)(chunk >> 8),
		    0,
		    0,
		    (uint8_t)(E1000_RXD_STA_DD | (i == need - 1 ? E1000_RXD_STA_EOP : 0)),
		    0,
		    0,
		    0};
		gpa_write(&e->mem, at + 8, wb, sizeof(wb));
		head = (head + 1) % n;
		R(e, E1000_RDH) = head;
		CNT_ADD(e->est.rx_descriptors, 1);
	}
	CNT_ADD(e->st.rx_packets, 1);
	CNT_ADD(e->st.rx_bytes, len);
	stat_add(e, E1000_GPRC, 1);
	stat_add(e, E1000_TPR, 1);
	stat_add64(e, E1000_GORCL, len);
	stat_add64(e, E1000_TORL, len);
	if (frame[0] == 0xff && frame[1] == 0xff)
		stat_add(e, E1000_BPRC, 1);
	else if (frame[0] & 1)
		stat_add(e, E1000_MPRC, 1);
	cause |= E1000_ICR_RXT0;
	/* RXDMT0: free descriptors fell to RCTL.RDMTS's share of the ring (1/2, 1/4, 1/8). */
	free_desc = (tail + n - head) % n;
	unsigned rdmts = (rctl >> 8) & 3;
	if (rdmts < 3 && free_desc <= n >> (rdmts + 1))
		cause |= E1000_ICR_RXDMT0;
irq:
	e1000_raise(e, cause);
out:
	pthread_mutex_unlock(&e->lock);
}
