/* The SR-IOV NIC: the PF's control plane and the VFs' registers (regs.h has the layout; the
 * engine is engine.c). */
#include "vmm/vsnic/vsnic.h"
#include "vmm/counters.h"
#include "vmm/net/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/kvm/kvm.h"

#define DB32(vf, off) ((volatile uint32_t *)((vf)->db + (off)))

static void set_mac_regs(struct vsnic_vf *vf)
{
	const uint8_t *m = vf->card->vf_mac[vf->n];
	vf->reg[VSNIC_VF_MAC_LO / 4] =
	    (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
	vf->reg[VSNIC_VF_MAC_HI / 4] = (uint32_t)m[4] | (uint32_t)m[5] << 8;
}

/* ---- the VF's trapping registers ---- */

/* A ring as the registers at base_lo (LO, HI) and size describe it; false: a size that is no
 * power of two in range, or a ring outside the memory devices may use. */
static bool ring_setup(const struct vsnic_vf *vf, unsigned base_lo, unsigned size,
		       struct vsnic_ring *r)
{
	*r = (struct vsnic_ring){.base = (uint64_t)vf->reg[base_lo / 4 + 1] << 32 |
					 vf->reg[base_lo / 4],
				 .size = vf->reg[size / 4]};
	return r->size >= VSNIC_RING_MIN && r->size <= VSNIC_RING_MAX &&
	       !(r->size & (r->size - 1)) && gpa_ring(&vf->mem, r->base, r->size, VSNIC_DESC_SIZE);
}

/* CTRL.ENABLE 0 -> 1 latches the setup; 1 -> 0 stops the engine serving the VF. */
static void vf_ctrl(struct vsnic_vf *vf, uint32_t v)
{
	struct vsnic *c = vf->card;
	uint32_t was = vf->reg[VSNIC_VF_CTRL / 4];
	vf->reg[VSNIC_VF_CTRL / 4] = v & VSNIC_CTRL_ENABLE;
	if (!(v & VSNIC_CTRL_ENABLE)) {
		vf->ready = false;
		vf->reg[VSNIC_VF_STATUS / 4] &= ~VSNIC_STATUS_READY;
		return;
	}
	if (was & VSNIC_CTRL_ENABLE)
		return;
	struct vsnic_ring tx, rx;
	bool tx_ok = ring_setup(vf, VSNIC_VF_TX_BASE_LO, VSNIC_VF_TX_SIZE, &tx);
	if (!ring_setup(vf, VSNIC_VF_RX_BASE_LO, VSNIC_VF_RX_SIZE, &rx) || !tx_ok) {
		CNT_ADD(c->est.setup_bad, 1);
		vf->reg[VSNIC_VF_STATUS / 4] = VSNIC_STATUS_LINK_UP | VSNIC_STATUS_SETUP_BAD;
		return;
	}
	memset(vf->db, 0, VSNIC_DB_SIZE); /* tails and heads start at 0 */
	vf->tx = tx;
	vf->rx = rx;
	vf->tx_stalled = false;
	vf->ready = true;
	vf->reg[VSNIC_VF_STATUS / 4] = VSNIC_STATUS_LINK_UP | VSNIC_STATUS_READY;
}

/* An access a register refused: counted, and a read gives 0. */
static void refused(struct vsnic *c, void *data, uint32_t len, bool is_write)
{
	CNT_ADD(c->st.reg_bad, 1);
	if (!is_write)
		memset(data, 0, len > 8 ? 8 : len);
}

/* The VF's BAR2 with the card's lock held; false: refused. */
static bool vf_regs(struct vsnic_vf *vf, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct vsnic *c = vf->card;
	if (pci_msix_claims(&vf->msix, VSNIC_VF_BAR2, off)) {
		CNT_ADD(c->traps[VSNIC_TRAP_VF_MSIX], 1);
		pci_msix_access(&vf->msix, off, data, len, is_write);
		return true;
	}
	if (len != 4 || (off & 3) || off >= VSNIC_VF_REGS_END) {
		CNT_ADD(c->traps[VSNIC_TRAP_VF_OTHER], 1);
		return false;
	}
	if (off == VSNIC_VF_WAKE) {
		/* No ioeventfd took it (no KVM, or KVM refused one): the same wake-up, trapped. */
		uint64_t one = 1;
		CNT_ADD(c->traps[is_write ? VSNIC_TRAP_VF_WAKE : VSNIC_TRAP_VF_OTHER], 1);
		if (!is_write)
			memset(data, 0, 4); /* write-only */
		else if ((vf->wake_fd >= 0 || c->wake_fd >= 0) &&
			 write(vf->wake_fd >= 0 ? vf->wake_fd : c->wake_fd, &one, sizeof(one)) < 0)
			CNT_ADD(vf->st.reg_bad, 1); /* saturated: a wake-up is pending anyway */
		return true;
	}
	CNT_ADD(c->traps[off == VSNIC_VF_CTRL ? VSNIC_TRAP_VF_CTRL : VSNIC_TRAP_VF_SETUP], 1);
	uint32_t v;
	if (!is_write) {
		v = vf->reg[off / 4];
		memcpy(data, &v, 4);
		return true;
	}
	memcpy(&v, data, 4);
	switch (off) {
	case VSNIC_VF_CTRL: vf_ctrl(vf, v); return true;
	case VSNIC_VF_TX_BASE_LO:
	case VSNIC_VF_TX_BASE_HI:
	case VSNIC_VF_TX_SIZE:
	case VSNIC_VF_RX_BASE_LO:
	case VSNIC_VF_RX_BASE_HI:
	case VSNIC_VF_RX_SIZE:
		vf->reg[off / 4] = v; /* latched by the next ENABLE */
		return true;
	default: return false; /* STATUS and the MAC are read-only */
	}
}

void vsnic_vf_mmio(struct vsnic_vf *vf, uint64_t off, void *data, uint32_t len, bool is_write)
{
	pthread_mutex_lock(&vf->card->lock);
	CNT_ADD(vf->st.reg_traps, 1);
	if (!vf_regs(vf, off, data, len, is_write)) {
		CNT_ADD(vf->st.reg_bad, 1);
		if (!is_write)
			memset(data, 0, len > 8 ? 8 : len);
	}
	pthread_mutex_unlock(&vf->card->lock);
}

static int vf_bar_access(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len,
			 bool is_write)
{
	/* Only BAR2: pci.c serves the doorbell page itself when it has no memory slot. */
	vsnic_vf_mmio(d->opaque, off, data, len, is_write);
	return 0;
}

static void vf_cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct vsnic_vf *vf = d->opaque;
	pthread_mutex_lock(&vf->card->lock);
	pci_msix_cfg_written(&vf->msix, off, len);
	pthread_mutex_unlock(&vf->card->lock);
}

/* VF n's function, for the VM its mem, irq and accel are (set by the caller): as the SR-IOV
 * capability makes it on the PF's bus (its IDs read all ones), or as VFIO gives one to a VM
 * (assigned: a function of its own, the VF's IDs). The same BARs, capability and MSI-X either
 * way. With the card's lock held. */
static int vf_build(struct vsnic *c, struct vsnic_vf *vf, bool assigned)
{
	if (assigned)
		pci_dev_init(&vf->pci, "vsnic-vf", VSNIC_VENDOR, VSNIC_VF_DEVICE, 0x020000, 1,
			     VSNIC_VENDOR, VSNIC_VF_DEVICE);
	else
		pci_vf_init(&vf->pci, "vsnic-vf", 0x020000);
	vf->pci.opaque = vf;
	vf->pci.bar_access = vf_bar_access;
	vf->pci.cfg_written = vf_cfg_written;
	vf->pci.bar_moved = vsnic_vf_bar_moved;
	memset(vf->db, 0, VSNIC_DB_SIZE);
	int r = pci_dev_add_ram_bar(&vf->pci, 0, VSNIC_DB_SIZE, vf->db);
	if (!r)
		r = pci_dev_add_bar(&vf->pci, VSNIC_VF_BAR2, VSNIC_VF_BAR2_SIZE, false);
	if (!r)
		r = pci_dev_add_pcie_cap(&vf->pci, 0) < 0 ? -ENOSPC : 0;
	if (!r)
		r = pci_msix_init(&vf->msix, &vf->pci, vf->irq, 1, VSNIC_VF_BAR2,
				  VSNIC_VF_MSIX_TABLE, VSNIC_VF_MSIX_PBA);
	if (r) {
		pci_msix_exit(&vf->msix);
		return r;
	}
	set_mac_regs(vf);
	vf->reg[VSNIC_VF_STATUS / 4] = VSNIC_STATUS_LINK_UP;
	vf->present = true;
	vf->assigned = assigned;
	CNT_ADD(c->est.vf_enables, 1);
	return 0;
}

/* A VF's state afresh, for the VM env names (NULL: the PF's). */
static void vf_reset(struct vsnic *c, struct vsnic_vf *vf, const struct nic_env *env)
{
	uint8_t *db = vf->db;
	unsigned n = vf->n;
	memset(vf, 0, sizeof(*vf));
	vf->db = db;
	vf->card = c;
	vf->n = n;
	vf->mem = env ? *env->mem : c->mem;
	vf->irq = env ? env->irq : c->irq;
	vf->accel = env ? env->accel : c->accel;
	vf->wake_fd = -1;
}

/* pci_sriov's calls, with the card's lock held (they come from the PF's config writes). */
static int vf_create(void *opaque, unsigned n, struct pci_dev **out)
{
	struct vsnic *c = opaque;
	struct vsnic_vf *vf = &c->vf[n];
	vf_reset(c, vf, NULL);
	int r = vf_build(c, vf, false);
	if (!r)
		*out = &vf->pci;
	return r;
}

static void vf_destroy(void *opaque, unsigned n)
{
	struct vsnic_vf *vf = &((struct vsnic *)opaque)->vf[n];
	vf->ready = false;
	vf->present = false;
	vsnic_vf_bar_moved(&vf->pci, VSNIC_VF_BAR2, 0);
	/* Doorbell writes that trapped (no memory slot) and its counts: kept past the VF. */
	CNT_ADD(vf->card->traps[VSNIC_TRAP_DOORBELL], vf->pci.bar[0].exits);
	nic_stats_add(&vf->card->st, &vf->st);
	memset(&vf->st, 0, sizeof(vf->st));
	pci_msix_exit(&vf->msix);
	pci_dev_exit(&vf->pci);
}

static const struct pci_sriov_ops sriov_ops = {.vf_create = vf_create, .vf_destroy = vf_destroy};

/* ---- the PF ---- */

/* The PF's BAR0 with the card's lock held; false: refused. */
static bool pf_regs(struct vsnic *c, uint64_t off, void *data, uint32_t len, bool is_write)
{
	uint32_t v = 0;
	if (pci_msix_claims(&c->pf_msix, 0, off)) {
		CNT_ADD(c->traps[VSNIC_TRAP_PF_MSIX], 1);
		pci_msix_access(&c->pf_msix, off, data, len, is_write);
		return true;
	}
	CNT_ADD(c->traps[VSNIC_TRAP_PF_REGS], 1);
	if (len != 4 || (off & 3))
		return false;
	if (is_write)
		memcpy(&v, data, 4);
	if (off >= VSNIC_PF_VF_MAC_LO(0) && off < VSNIC_PF_VF_MAC_LO(VSNIC_TOTAL_VFS)) {
		unsigned n = (unsigned)(off - VSNIC_PF_VF_MAC_LO(0)) / 8, hi = (off & 4) != 0;
		uint8_t *m = c->vf_mac[n] + 4 * hi;
		if (is_write) {
			for (unsigned i = 0; i < (hi ? 2u : 4u); i++)
				m[i] = (uint8_t)(v >> (8 * i));
			if (c->vf[n].present)
				set_mac_regs(&c->vf[n]);
		} else {
			for (unsigned i = 0; i < (hi ? 2u : 4u); i++)
				v |= (uint32_t)m[i] << (8 * i);
		}
	} else if (is_write) {
		return false; /* everything else is read-only */
	} else if (off == VSNIC_PF_ID) {
		v = VSNIC_PF_ID_VALUE;
	} else if (off == VSNIC_PF_LINK) {
		v = c->attached;
	} else if (off >= VSNIC_PF_VF_STATS(0) && off < VSNIC_PF_VF_STATS(VSNIC_TOTAL_VFS)) {
		const struct vsnic_vf *vf = &c->vf[(off - VSNIC_PF_VF_STATS(0)) / 16];
		const uint64_t *f[4] = {&vf->st.tx_packets, &vf->st.rx_packets,
					&vf->st.rx_no_buffer, &vf->st.ring_errors};
		v = (uint32_t)__atomic_load_n(f[(off % 16) / 4], __ATOMIC_RELAXED);
	} else {
		return false;
	}
	if (!is_write)
		memcpy(data, &v, 4);
	return true;
}

void vsnic_pf_mmio(struct vsnic *c, uint64_t off, void *data, uint32_t len, bool is_write)
{
	pthread_mutex_lock(&c->lock);
	if (!pf_regs(c, off, data, len, is_write))
		refused(c, data, len, is_write);
	pthread_mutex_unlock(&c->lock);
}

static int pf_bar_access(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len,
			 bool is_write)
{
	vsnic_pf_mmio(d->opaque, off, data, len, is_write);
	return 0;
}

static void pf_cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct vsnic *c = d->opaque;
	pthread_mutex_lock(&c->lock);
	pci_msix_cfg_written(&c->pf_msix, off, len);
	pci_sriov_cfg_written(&c->sriov, off, len);
	pthread_mutex_unlock(&c->lock);
}

/* The card with TotalVFs total (VSNIC_VFS_MAX at most). */
static int card_init(struct vsnic *c, const struct nic_env *env, unsigned total)
{
	struct nic handle = c->nic;
	memset(c, 0, sizeof(*c));
	c->nic = handle;
	c->mem = *env->mem;
	c->irq = env->irq;
	c->net = env->net;
	c->be = env->net ? env->net->be : NULL;
	c->accel = env->accel;
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&c->lock, NULL);
	for (unsigned n = 0; n < VSNIC_VFS_MAX; n++) {
		memcpy(c->vf_mac[n], env->mac, 6);
		c->vf_mac[n][5] = (uint8_t)(env->mac[5] + n);
		c->vf[n].db = aligned_alloc(4096, VSNIC_DB_SIZE);
		if (!c->vf[n].db)
			return -ENOMEM;
		memset(c->vf[n].db, 0, VSNIC_DB_SIZE);
		c->vf[n].card = c;
		c->vf[n].n = n;
		c->vf[n].wake_fd = -1;
	}
	pci_dev_init(&c->pf, "vsnic-pf", VSNIC_VENDOR, VSNIC_PF_DEVICE, 0x020000, 1, VSNIC_VENDOR,
		     VSNIC_PF_DEVICE);
	c->pf.opaque = c;
	c->pf.bar_access = pf_bar_access;
	c->pf.cfg_written = pf_cfg_written;
	const uint64_t vf_bars[6] = {[0] = VSNIC_DB_SIZE, [VSNIC_VF_BAR2] = VSNIC_VF_BAR2_SIZE};
	int r = pci_dev_add_bar(&c->pf, 0, VSNIC_PF_BAR_SIZE, false);
	if (!r)
		r = pci_dev_add_pcie_cap(&c->pf, 0) < 0 ? -ENOSPC : 0;
	memset(c->pf_msix.gsi, 0xff, sizeof(c->pf_msix.gsi)); /* none yet */
	if (!r && c->irq) /* a host's PF (no VM's, vsnic_host_open) interrupts no guest */
		r = pci_msix_init(&c->pf_msix, &c->pf, c->irq, 1, 0, VSNIC_PF_MSIX_TABLE,
				  VSNIC_PF_MSIX_PBA);
	if (!r)
		r = pci_sriov_init(&c->sriov, &c->pf, total, VSNIC_VF_OFFSET, VSNIC_VF_STRIDE,
				   VSNIC_VF_DEVICE, vf_bars, &sriov_ops, c);
	return r;
}

int vsnic_init(struct vsnic *c, const struct nic_env *env)
{
	return card_init(c, env, VSNIC_TOTAL_VFS);
}

/* The host's card on the link: the MACs of its VFs that are up (no lock: the engine asks
 * from inside its own turn). */
static bool vsnic_has_mac(void *opaque, const uint8_t *mac)
{
	struct vsnic *c = opaque;
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
		if (__atomic_load_n(&c->vf[i].ready, __ATOMIC_RELAXED) &&
		    !memcmp(mac, c->vf_mac[i], 6))
			return true;
	return false;
}

int vsnic_start(struct vsnic *c)
{
	struct net_port port = {
	    .rx = vsnic_rx, .poll = vsnic_engine, .idle = vsnic_idle, .opaque = c};
	if (c->host)
		port.has_mac = vsnic_has_mac; /* a MAC per VF, each a VM's */
	else
		memcpy(port.mac, c->vf_mac[0], 6); /* the guest's: VF 0 carries it */
	int r = net_attach(c->net, &port);
	c->attached = r == 0;
	/* Without the watch the engine never sleeps (vsnic_idle): it polls as before. */
	c->watching = !r && c->wake_fd >= 0 && net_watch(c->net, c->wake_fd, vsnic_on_wake, c) == 0;
	return r;
}

void vsnic_exit(struct vsnic *c)
{
	if (c->attached || c->watching)
		net_detach(c->net, c);
	c->attached = c->watching = false;
	pci_sriov_disable(&c->sriov); /* every VF's WAKE ioeventfd goes with it */
	pci_msix_exit(&c->pf_msix);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->wake_fd = -1;
	for (unsigned n = 0; n < VSNIC_VFS_MAX; n++) {
		free(c->vf[n].db);
		c->vf[n].db = NULL;
	}
	pthread_mutex_destroy(&c->lock);
}

/* ---- a card the host owns: its VFs assigned to VMs ---- */

int vsnic_host_open(struct vsnic **out, struct net *net, unsigned nvms)
{
	static const struct guest_mem none; /* the PF is in no VM: no memory to DMA to */
	struct nic_env env = {.mem = &none, .net = net};
	if (!nvms || 2 * nvms > VSNIC_VFS_MAX)
		return -EINVAL;
	struct vsnic *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->nic.model = &nic_model_vf;
	int r = card_init(c, &env, 2 * nvms);
	if (r) {
		vsnic_exit(c);
		free(c);
		return r;
	}
	c->host = true;
	pthread_mutex_init(&c->host_lock, NULL);
	pci_sriov_host_enable(&c->sriov, 2 * nvms);
	*out = c;
	return 0;
}

void vsnic_host_close(struct vsnic *c)
{
	if (!c)
		return;
	for (unsigned n = 0; n < VSNIC_VFS_MAX; n++)
		if (c->vf[n].assigned)
			vsnic_unassign(c, n);
	vsnic_exit(c);
	pthread_mutex_destroy(&c->host_lock);
	free(c);
}

int vsnic_assign(struct vsnic *c, const struct nic_env *env, unsigned *out, struct pci_dev **pci)
{
	if (!c->host)
		return -EINVAL;
	pthread_mutex_lock(&c->host_lock);
	pthread_mutex_lock(&c->lock);
	unsigned n = 0;
	while (n < c->sriov.num_vfs && c->vf[n].assigned)
		n++;
	if (n == c->sriov.num_vfs) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&c->host_lock);
		return -EBUSY;
	}
	struct vsnic_vf *vf = &c->vf[n];
	vf_reset(c, vf, env);
	vf->assigned = true; /* taken, from here until vsnic_unassign */
	memcpy(c->vf_mac[n], env->mac, 6);
	vf->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int r = vf->wake_fd < 0 ? -errno : vf_build(c, vf, true);
	pthread_mutex_unlock(&c->lock);
	/* Its WAKE rings the engine as the card's own does; the card is on the link from the first
	 * VF given out. */
	if (!r)
		r = net_watch(c->net, vf->wake_fd, vsnic_on_vf_wake, vf);
	if (!r && !c->attached)
		r = vsnic_start(c);
	pthread_mutex_unlock(&c->host_lock);
	if (r) {
		vsnic_unassign(c, n);
		return r;
	}
	*out = n;
	*pci = &vf->pci;
	return 0;
}

void vsnic_unassign(struct vsnic *c, unsigned n)
{
	struct vsnic_vf *vf = &c->vf[n];
	pthread_mutex_lock(&c->host_lock);
	net_detach(c->net, vf); /* its watch: no callback of it runs after this */
	pthread_mutex_lock(&c->lock);
	if (vf->present)
		vf_destroy(c, n);
	if (vf->wake_fd >= 0)
		close(vf->wake_fd);
	vf->wake_fd = -1;
	vf->assigned = false;
	bool any = false;
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
		any |= c->vf[i].assigned;
	pthread_mutex_unlock(&c->lock);
	if (!any && (c->attached || c->watching)) { /* off the link until a VF is given out */
		net_detach(c->net, c);
		c->attached = c->watching = false;
	}
	pthread_mutex_unlock(&c->host_lock);
}

void vsnic_read_vf(struct vsnic *c, unsigned n, struct nic_readout *out)
{
	const struct vsnic_vf *vf = &c->vf[n];
	struct vsnic_stats x;
	counters_copy(&x, &c->est, sizeof(x));
	pthread_mutex_lock(&c->lock);
	counters_copy(&out->total, &vf->st, sizeof(out->total));
	uint64_t db = vf->present ? __atomic_load_n(&vf->pci.bar[0].exits, __ATOMIC_RELAXED) : 0;
	unsigned up = 0;
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++)
		up += c->vf[i].ready;
	pthread_mutex_unlock(&c->lock);
	uint64_t wakes = __atomic_load_n(&vf->wakes, __ATOMIC_RELAXED);
	out->total.reg_traps += db;
	/* Its WAKE writes that KVM completed alone (its own eventfd's signals). */
	out->total.notify_events = wakes;
	out->regs[out->nr_regs++] =
	    (struct nic_counter){"VF registers and MSI-X", vf->st.reg_traps};
	out->regs[out->nr_regs++] = (struct nic_counter){"VF doorbells (no memslot)", db};
	nic_extra(out, "vf", n);
	nic_extra(out, "vfs_ready", up);
	nic_extra(out, "engine_turns", x.engine_turns);
	nic_extra(out, "engine_sleeps", x.engine_sleeps);
	nic_extra(out, "engine_wakes", wakes);
	nic_extra(out, "veb_frames", x.veb_frames);
	nic_extra(out, "desc_bad", x.desc_bad);
	nic_extra(out, "doorbell_bad", x.doorbell_bad);
}

/* ---- the model table's entry ---- */

static const char *const trap_names[VSNIC_TRAPS] = {
    "VF CTRL",
    "VF ring setup",
    "VF MSI-X table",
    "VF other",
    "PF registers",
    "PF MSI-X table",
    "VF doorbells (no memslot)",
    "VF wake (trapped)",
};

static void read_stats(struct nic *nic, struct nic_readout *out)
{
	struct vsnic *c = (struct vsnic *)nic;
	struct vsnic_stats x;
	uint64_t traps = 0;
	counters_copy(&out->total, &c->st, sizeof(out->total));
	counters_copy(&x, &c->est, sizeof(x));
	uint64_t live_db = 0, refused, vf_errors;
	unsigned up = 0;
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < VSNIC_VFS_MAX; i++) {
		if (c->vf[i].present) {
			struct nic_stats v;
			counters_copy(&v, &c->vf[i].st, sizeof(v));
			nic_stats_add(&out->total, &v);
		}
		live_db += c->vf[i].present
			       ? __atomic_load_n(&c->vf[i].pci.bar[0].exits, __ATOMIC_RELAXED)
			       : 0;
		up += c->vf[i].ready;
	}
	refused = c->sriov.refused;
	vf_errors = c->sriov.vf_errors;
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < VSNIC_TRAPS; i++) {
		uint64_t v = __atomic_load_n(&c->traps[i], __ATOMIC_RELAXED) +
			     (i == VSNIC_TRAP_DOORBELL ? live_db : 0);
		traps += v;
		out->regs[out->nr_regs++] = (struct nic_counter){trap_names[i], v};
	}
	out->total.reg_traps = traps;
	/* Doorbells are memory: what reached KVM alone are the WAKE writes its ioeventfd took. */
	uint64_t trapped = __atomic_load_n(&c->traps[VSNIC_TRAP_VF_WAKE], __ATOMIC_RELAXED);
	out->total.notify_events = x.engine_wakes > trapped ? x.engine_wakes - trapped : 0;
	nic_extra(out, "vfs_ready", up);
	VSNIC_COUNTERS(NIC_COUNTER_READ)
	nic_extra(out, "sriov_refused", refused);
	nic_extra(out, "vf_errors", vf_errors);
}

static unsigned functions(struct nic *nic, struct pci_dev **out, unsigned max)
{
	struct vsnic *c = (struct vsnic *)nic;
	unsigned n = 0;
	if (max)
		out[n++] = &c->pf;
	for (unsigned i = 0; i < VSNIC_VFS_MAX && n < max; i++)
		out[n++] =
		    &c->vf[i].pci; /* never freed while the card lives; absent ones map nothing */
	return n;
}

NIC_MODEL_GLUE(vsnic, pf)

const struct nic_model nic_model_vf = {
    .name = "vf",
    .chip = "vmscope SR-IOV VF",
    .mode = NIC_MODE_VF,
    .engine = true,
    NIC_MODEL_STEPS(vsnic),
    .read = read_stats,
    .functions = functions,
};

/* A VM's VF of the host's card: the table's vf where several VMs share the card. */
struct vsnic_assigned {
	struct nic nic; /* first: the model table's handle */
	struct vsnic *card;
	unsigned n;
	bool given;
};

static int assigned_init(struct nic *nic, const struct nic_env *env)
{
	struct vsnic_assigned *a = (struct vsnic_assigned *)nic;
	a->card = env->sriov;
	if (!a->card)
		return -EINVAL;
	int r = vsnic_assign(a->card, env, &a->n, &nic->pci);
	a->given = r == 0;
	return r;
}

static int assigned_start(struct nic *nic)
{
	return 0; /* the card is on the link while it has a VF given out (vsnic_assign) */
}

static void assigned_exit(struct nic *nic)
{
	struct vsnic_assigned *a = (struct vsnic_assigned *)nic;
	if (a->given)
		vsnic_unassign(a->card, a->n);
	a->given = false;
}

static void assigned_read(struct nic *nic, struct nic_readout *out)
{
	struct vsnic_assigned *a = (struct vsnic_assigned *)nic;
	vsnic_read_vf(a->card, a->n, out);
}

const struct nic_model nic_model_vf_assigned = {
    .name = "vf",
    .chip = "vmscope SR-IOV VF (assigned)",
    .mode = NIC_MODE_VF,
    .engine = true,
    .size = sizeof(struct vsnic_assigned),
    .init = assigned_init,
    .start = assigned_start,
    .exit = assigned_exit,
    .read = assigned_read,
};
