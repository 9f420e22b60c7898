/* What the probes read of the VM: its state, counters, control page, cards and CPU time. */
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

void vmm_resources(struct vmm *vm, struct vmm_resources *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->nic_lock);
	for (int p = 0; p < VMM_PORTS; p++)
		out->cards += vm->card[p] != NULL;
	pthread_mutex_unlock(&vm->nic_lock);
	out->memslots = (unsigned)__builtin_popcount(vm->pci.memslots);
	out->ioeventfds = (unsigned)accel_ioeventfds_bound();
	pthread_mutex_lock(&vm->irq.lock);
	for (unsigned i = 0; i < IRQ_MAX; i++)
		out->gsis += vm->irq.route[i].used;
	pthread_mutex_unlock(&vm->irq.lock);
}

void vmm_status(struct vmm *vm, struct vmm_status *st)
{
	pthread_mutex_lock(&vm->lock);
	*st = vm->status;
	pthread_mutex_unlock(&vm->lock);
}

enum host_kind vmm_host(const struct vmm *vm)
{
	return vm->host;
}
enum cpu_mode vmm_cpu_mode(const struct vmm *vm)
{
	return vm->cpu;
}
bool vmm_irqchip(const struct vmm *vm)
{
	return vm->irqchip;
}
uint64_t vmm_tsc_khz(const struct vmm *vm)
{
	return vm->tsc_khz;
}
const char *vmm_cpu_note(const struct vmm *vm)
{
	return vm->cpu_note;
}
int vmm_vcpu_fd(const struct vmm *vm)
{
	return vm->vcpu_fd;
}
int vmm_vm_fd(const struct vmm *vm)
{
	return vm->vm_fd;
}
struct vlog *vmm_log(struct vmm *vm)
{
	return &vm->log;
}
uint64_t vmm_ns_first_insn(struct vmm *vm)
{
	return LOAD(vm->ns_first_insn);
}
uint64_t vmm_ns_banner(struct vmm *vm)
{
	return LOAD(vm->ns_banner);
}
unsigned vmm_boot_marks(struct vmm *vm, struct vmm_mark *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->nr_marks && n < VMM_MARKS - 3; i++)
		out[n++] = vm->marks[i];
	out[n++] = (struct vmm_mark){"first KVM_RUN", LOAD(vm->ns_first_run)};
	out[n++] = (struct vmm_mark){"first instruction (its exit)", LOAD(vm->ns_first_insn)};
	out[n++] = (struct vmm_mark){"banner", LOAD(vm->ns_banner)};
	return n;
}

void vmm_read_ctl(struct vmm *vm, struct ctl_page *out)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	memcpy(out, (const void *)vm->ctl, sizeof(*out));
}

void vmm_net_info(struct vmm *vm, struct vmm_net *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->nic_lock);
	struct nic *c = vm->active >= 0 ? vm->card[vm->active] : NULL;
	out->present = c != NULL;
	if (c) {
		out->model = c->model->name;
		out->chip = c->model->chip;
		out->engine = c->model->engine;
	}
	pthread_mutex_unlock(&vm->nic_lock);
	if (!c)
		return;
	out->backend = net_backend_name(vm->netside);
	out->why = vm->netside->why;
	if (vm->netside->have_link)
		snprintf(out->netns, sizeof(out->netns), "%s", vm->netside->link.netns);
}

bool vmm_guest_tsc_known(const struct vmm *vm)
{
	return vm->tsc_offset_known;
}

bool vmm_ping_hops(struct vmm *vm, struct vmm_ping_hops *out)
{
	memset(out, 0, sizeof(*out));
	if (!vm->netside || !vm->netside->be || !vm->tsc_offset_known || !vm->tsc_khz)
		return false;
	uint8_t mac[6];
	struct net_hops_sums h;
	net_guest_mac(vm->opts.index, mac);
	net_backend_hops(vm->netside->be, mac, &h);
	if (!h.n)
		return false;
	/* A stamp is the guest's TSC: less the offset it is the host's, as the other ends are. */
	double ns = 1e6 / (double)vm->tsc_khz, off = (double)vm->tsc_offset * (double)h.n;
	out->n = h.n;
	out->out_ns = ((double)h.out_sum + off) * ns;
	out->link_ns = (double)h.link_sum * ns;
	out->taken_ns = ((double)h.taken_sum + off) * ns;
	return true;
}

int proc_stat_fields(const char *path, int first, unsigned n, uint64_t *out)
{
	char buf[1024];
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold spaces */
	for (int field = 2; p && field < first; field++)
		p = strchr(p + 1, ' ');
	for (unsigned i = 0; i < n; i++) {
		if (!p || sscanf(p + 1, "%" SCNu64, &out[i]) != 1)
			return -1;
		p = strchr(p + 1, ' ');
	}
	return 0;
}

/* guest_time (field 43 of proc(5)'s stat), in clock ticks: what the kernel accounted to the
 * guest on this thread (kvm_pvm accounts it too). */
static bool guest_ticks(int tid, uint64_t *out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	return proc_stat_fields(path, 43, 1, out) == 0;
}

int vmm_read_cpu(struct vmm *vm, struct vmm_cpu *out)
{
	uint64_t ticks;
	int tid = __atomic_load_n(&vm->vcpu_tid, __ATOMIC_ACQUIRE);
	memset(out, 0, sizeof(*out));
	if (!vm->thread_started || !tid || !guest_ticks(tid, &ticks))
		return -ENOENT;
	out->vcpu_ns = thread_cpu_ns(vm->thread);
	out->guest_ns = ticks * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
	out->net_ns = vm->netside ? net_thread_cpu_ns(vm->netside) : 0;
	return 0;
}

int vmm_read_net(struct vmm *vm, struct nic_readout *dev, struct link_counters *peer)
{
	pthread_mutex_lock(&vm->nic_lock);
	if (vm->active < 0) {
		pthread_mutex_unlock(&vm->nic_lock);
		return -ENODEV;
	}
	/* The model's own counters are the active card's; the totals every model keeps are the
	 * VM's, over every card it had, so they only go up across switches. */
	nic_read(vm->card[vm->active], dev);
	struct nic_stats sum = vm->retired;
	for (int p = 0; p < VMM_PORTS; p++) {
		struct nic_readout other;
		const struct nic_readout *ro = dev;
		if (!vm->card[p])
			continue;
		if (p != vm->active) {
			nic_read(vm->card[p], &other);
			ro = &other;
		}
		nic_stats_add(&sum, &ro->total);
	}
	dev->total = sum;
	pthread_mutex_unlock(&vm->nic_lock);
	net_read_peer(vm->netside, peer);
	return 0;
}

unsigned vmm_nic_regions(struct vmm *vm, struct vmm_region *out)
{
	struct pci_dev *fn[8];
	unsigned n = 0;
	/* Every decoding BAR of every function of every card (two during a switch), RAM-backed
	 * ones too: a VF's doorbell page belongs there, and its count of exits (none) is the
	 * lesson. */
	pthread_mutex_lock(&vm->nic_lock);
	for (int p = 0; p < VMM_PORTS; p++) {
		unsigned nr = vm->card[p] ? nic_functions(vm->card[p], fn, 8) : 0;
		for (unsigned f = 0; f < nr; f++)
			for (unsigned i = 0; i < 6 && n < VMM_NIC_REGIONS; i++) {
				const struct pci_bar *b = &fn[f]->bar[i];
				uint64_t at = __atomic_load_n(&b->mapped_at, __ATOMIC_RELAXED);
				if (b->size && at)
					out[n++] = (struct vmm_region){b->io, at, b->size};
			}
	}
	pthread_mutex_unlock(&vm->nic_lock);
	return n;
}

void vmm_read_counters(struct vmm *vm, struct vmm_counters *out)
{
	counters_copy(out, &vm->cnt, sizeof(*out));
}

int vmm_vcpu_tid(const struct vmm *vm)
{
	return __atomic_load_n(&vm->vcpu_tid, __ATOMIC_ACQUIRE);
}
