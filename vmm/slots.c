/* The card slots: cards plugged and unplugged behind the root ports, and the live switch. */
#define _GNU_SOURCE
#include "vmm/vmm_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmm/clock.h"
#include "vmm/counters.h"
#include "vmm/net/net.h"
#include "vmm/nic.h"

#define SWITCH_BOUND_MS	    5000  /* a guest that takes longer to bind the new card: failed */
#define SWITCH_BOUND_EMU_MS 60000 /* ... when every instruction is emulated */

static uint32_t card_bdf(const struct nic *c)
{
	return pci_dev_busnr(c->pci) << 8 | c->pci->devfn;
}

/* Builds a card of the model and puts it in port p's slot (announce: a hot-add the guest is
 * told of). Call with nic_lock held, on the vCPU thread or before it runs. */
static int plug_card(struct vmm *vm, int p, enum nic_mode mode, bool announce, const char **why)
{
	/* Several VMs share the host's SR-IOV card: this one's VF is assigned to it. */
	const struct nic_model *model =
	    mode == NIC_MODE_VF && vm->opts.sriov ? &nic_model_vf_assigned : nic_model_find(mode);
	unsigned slot = PORT_SLOT_FIRST + (unsigned)p;
	int r;

	*why = NULL;
	if (!model || !vm->netside) {
		*why = !model ? "no such network card model" : "the VM has no network side";
		return -EINVAL;
	}
	struct nic_env env = {
	    .mem = &vm->gmem,
	    .irq = &vm->irq,
	    .accel = &vm->accel,
	    .net = vm->netside,
	    /* INTA of device 0 behind the port: the port's slot swizzles it, as PC firmware */
	    .intx_pin = IRQ_PCI_PIN_FIRST + slot % 4,
	    .ip = net_guest_ip(vm->opts.index),
	};
	net_guest_mac(vm->opts.index, env.mac);
	env.sriov = vm->opts.sriov;
	r = nic_create(model, &env, &vm->card[p]);
	if (r) {
		vm->card[p] = NULL;
		*why = r == -EBUSY ? "the link already has two cards attached"
				   : "the network card could not be set up";
		return r;
	}
	r = pcie_port_plug(&vm->port[p], vm->card[p]->pci, announce);
	if (r) {
		nic_destroy(vm->card[p]);
		vm->card[p] = NULL;
		*why = "the network card does not fit on the PCI bus";
		return r;
	}
	vlog(&vm->log,
	     "vmm: %s (%s) %s at %02x:00.0 behind root port 00:%02x.0, on the %s backend%s%s",
	     model->chip, model->name, announce ? "hot-added" : "present",
	     pci_dev_busnr(vm->card[p]->pci), slot, net_backend_name(vm->netside),
	     vm->netside->have_link ? ", netns " : "",
	     vm->netside->have_link ? vm->netside->link.netns : "");
	return 0;
}

/* Takes port p's card out (announce: a removal the guest is told of) and frees it; its totals
 * stay in the VM's. With nic_lock held. */
static void unplug_card(struct vmm *vm, int p, bool announce)
{
	struct nic *c = vm->card[p];
	struct nic_readout ro;
	if (!c)
		return;
	nic_read(c, &ro);
	nic_stats_add(&vm->retired, &ro.total);
	pcie_port_unplug(&vm->port[p], announce);
	nic_destroy(c);
	vm->card[p] = NULL;
	if (vm->active == p)
		vm->active = -1;
}

int vmm_attach_nic(struct vmm *vm, enum nic_mode mode, const char **why)
{
	pthread_mutex_lock(&vm->nic_lock);
	int r = -EBUSY;
	*why = "the VM already has a network card";
	if (vm->active < 0 && !vm->thread_started) {
		r = plug_card(vm, 0, mode, false, why);
		if (!r)
			vm->active = 0;
	}
	pthread_mutex_unlock(&vm->nic_lock);
	return r;
}

void vmm_detach_nic(struct vmm *vm)
{
	pthread_mutex_lock(&vm->nic_lock);
	for (int p = 0; p < VMM_PORTS; p++)
		unplug_card(vm, p, false);
	pthread_mutex_unlock(&vm->nic_lock);
}

enum nic_mode vmm_nic_mode(struct vmm *vm)
{
	pthread_mutex_lock(&vm->nic_lock);
	enum nic_mode m = vm->active >= 0 ? vm->card[vm->active]->model->mode : NIC_MODE_NONE;
	pthread_mutex_unlock(&vm->nic_lock);
	return m;
}

static void switch_failed(struct vmm *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void switch_failed(struct vmm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->sw.why, sizeof(vm->sw.why), fmt, ap);
	va_end(ap);
	vm->sw.phase = SWITCH_FAILED;
	vm->sw.ns_end = mono_ns();
	STORE(vm->ctl->loss_win_end, vm->sw.ns_end);
	vlog(&vm->log, "vmm: switch to %s failed: %s", nic_mode_name(vm->sw.to), vm->sw.why);
}

static uint64_t switch_bound_ns(const struct vmm *vm)
{
	return (vm->cpu == CPU_EMULATED ? SWITCH_BOUND_EMU_MS : SWITCH_BOUND_MS) * 1000000ull;
}

/* The port a switch brings the new card into: the one the guest's card is not in. -1: no card. */
static int spare_port(const struct vmm *vm)
{
	return vm->active >= 0 ? 1 - vm->active : -1;
}

/* The hot-add, or the removal of a card the guest did not bring up in time. */
bool slots_switch_late(const struct vmm *vm, uint64_t now)
{
	return (vm->sw.phase == SWITCH_BINDING || vm->sw.phase == SWITCH_MOVING) &&
	       now - vm->sw.ns_start > switch_bound_ns(vm);
}

void slots_hotplug_work(struct vmm *vm)
{
	STORE(vm->hp_work, false);
	pthread_mutex_lock(&vm->nic_lock);
	struct vmm_switch *sw = &vm->sw;
	int fresh = spare_port(vm); /* a switch starts only from a card: never -1 here */
	if (sw->phase == SWITCH_ADDING) {
		const char *why;
		if (plug_card(vm, fresh, sw->to, true, &why)) {
			switch_failed(vm, "%s", why);
		} else {
			sw->phase = SWITCH_BINDING;
		}
	} else if ((sw->phase == SWITCH_BINDING || sw->phase == SWITCH_MOVING) &&
		   mono_ns() - sw->ns_start > switch_bound_ns(vm)) {
		/* Surprise removal of the card the guest never took: the old one carries on. */
		unplug_card(vm, fresh, true);
		switch_failed(
		    vm, "the guest did not %s the new card within %llu ms, so the %s card stays",
		    sw->phase == SWITCH_BINDING ? "bring up" : "move its traffic to",
		    (unsigned long long)(switch_bound_ns(vm) / 1000000), nic_mode_name(sw->from));
	}
	pthread_mutex_unlock(&vm->nic_lock);
}

void slots_switch_event(struct vmm *vm, uint32_t ev)
{
	const struct ctl_page *c = vm->ctl;
	pthread_mutex_lock(&vm->nic_lock);
	struct vmm_switch *sw = &vm->sw;
	int fresh = spare_port(vm);
	struct nic *new = fresh >= 0 ? vm->card[fresh] : NULL,
		   *old = vm->active >= 0 ? vm->card[vm->active] : NULL;
	uint64_t khz = vm->tsc_khz ? vm->tsc_khz : 1;
	if (ev == GEV_NIC_BOUND && sw->phase == SWITCH_BINDING && new &&
	    c->hp_bound_bdf == card_bdf(new)) {
		sw->phase = SWITCH_MOVING;
		sw->probe_ns = c->hp_probe_cycles * 1000000ull / khz;
	} else if (ev == GEV_NIC_MOVED && sw->phase == SWITCH_MOVING && old &&
		   c->hp_released_bdf == card_bdf(old)) {
		int was = vm->active;
		vm->active = fresh;
		unplug_card(vm, was, true);
		sw->phase = SWITCH_DONE;
		sw->ns_end = mono_ns();
		STORE(vm->ctl->loss_win_end, sw->ns_end);
		vlog(&vm->log, "vmm: switched %s -> %s in %.1f ms (guest probe %.1f ms)",
		     nic_mode_name(sw->from), nic_mode_name(sw->to),
		     (double)(sw->ns_end - sw->ns_start) / 1e6, (double)sw->probe_ns / 1e6);
	} else {
		CNT_ADD(vm->cnt.io_refused, 1); /* out of turn, or not the card in the slot */
	}
	pthread_mutex_unlock(&vm->nic_lock);
}

int vmm_switch_nic(struct vmm *vm, enum nic_mode to, const char **why)
{
	struct vmm_status st;
	int r = 0;
	vmm_status(vm, &st);
	pthread_mutex_lock(&vm->nic_lock);
	enum nic_mode from = vm->active >= 0 ? vm->card[vm->active]->model->mode : NIC_MODE_NONE;
	*why = NULL;
	if (!nic_model_find(to))
		*why = "there is no such network card model", r = -EINVAL;
	else if (from == NIC_MODE_NONE)
		*why = "the VM has no network card to switch from (start it with --nic)",
		r = -ENODEV;
	else if (from == to)
		*why = "the guest already uses that card", r = -EALREADY;
	else if (vm->sw.phase >= SWITCH_ADDING && vm->sw.phase <= SWITCH_MOVING)
		*why = "a switch is already under way", r = -EBUSY;
	else if (st.state != VMM_RUNNING || LOAD(vm->paused))
		*why = st.state == VMM_PAUSED || LOAD(vm->paused)
			   ? "the guest is paused: resume it to switch"
		       : st.state == VMM_BOOTING
			   ? "the guest is still booting: its hot-plug driver is not up yet"
			   : "the guest is not running",
		r = -EAGAIN;
	if (!r) {
		uint32_t seq = vm->sw.seq + 1;
		vm->sw = (struct vmm_switch){.seq = seq,
					     .phase = SWITCH_ADDING,
					     .from = from,
					     .to = to,
					     .ns_start = mono_ns()};
		STORE(vm->ctl->loss_win_end, 0);
		STORE(vm->ctl->loss_win_start, vm->sw.ns_start);
		STORE(vm->hp_work, true);
	}
	pthread_mutex_unlock(&vm->nic_lock);
	if (!r) {
		vcpu_wake(vm);
		vcpu_interrupt(vm);
	}
	return r;
}

void vmm_switch_read(struct vmm *vm, struct vmm_switch *out)
{
	pthread_mutex_lock(&vm->nic_lock);
	*out = vm->sw;
	pthread_mutex_unlock(&vm->nic_lock);
}

int slots_init_ports(struct vmm *vm, const char **why)
{
	int r = 0;
	for (int p = 0; p < VMM_PORTS && !r; p++) {
		char name[16];
		snprintf(name, sizeof(name), "root-port%d", p);
		r = pcie_port_init(&vm->port[p], name, PORT_SLOT_FIRST + (unsigned)p,
				   1 + (unsigned)p, vm->irqchip ? &vm->irq : NULL);
		if (!r) {
			vm->nr_ports = p + 1;
			r = pci_bus_plug(&vm->pci, &vm->port[p].dev, NULL,
					 PCI_DEVFN(PORT_SLOT_FIRST + p, 0));
		}
	}
	if (r)
		*why = "the PCIe root ports could not be set up";
	return r;
}
