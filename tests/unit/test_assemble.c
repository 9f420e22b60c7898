/* The snapshot's assembly from readings, without KVM: rates, source ranking, sources that are
 * missing showing "-", the per-packet and compare tables. */
#include <stdlib.h>
#include <string.h>

#include "probes/assemble.h"
#include "tests/harness.h"

/* A kvm_pvm guest at rest under the exits workload, its card virtio, every source there. */
struct fixture {
	struct readings in;
	struct ctl_page ctl;
	struct kt_counts kt;
	struct kstats ks;
	struct kstat_desc desc[3];
	uint64_t values[3];
	struct nic_readout nic;
	struct link_counters peer;
	struct capture_counters cap;
	struct vmm_region region;
	struct assembly a;
	struct snapshot snap;
};

static struct fixture *fixture(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct readings *in = &f->in;
	in->t = 1;
	in->host = HOST_PVM;
	in->cpu_mode = CPU_PARAVIRT;
	in->irqchip = true;
	in->tsc_khz = 1000000; /* 1 GHz: one cycle is a nanosecond */
	in->status.state = VMM_RUNNING;
	in->ctl = &f->ctl;
	in->workload = WL_EXITS;
	in->kind = EK_ALL;
	in->rate = 1000;
	in->pkt_size = 64;
	strcpy(f->desc[0].name, "exits");
	strcpy(f->desc[1].name, "mmio_exits");
	strcpy(f->desc[2].name, "halt_exits");
	for (int i = 0; i < 3; i++)
		f->desc[i].size = 1;
	f->ks.nr = 3;
	f->ks.desc = f->desc;
	in->ks = &f->ks;
	in->stat_values = f->values;
	f->kt.attached[KT_PIO] = f->kt.attached[KT_MMIO] = true;
	in->kt = &f->kt;
	in->net_present = true;
	in->net_info.present = true;
	in->net_info.chip = "virtio-net";
	in->net_info.backend = "tap";
	in->nic_mode = NIC_MODE_VIRTIO;
	in->nic = &f->nic;
	in->peer = &f->peer;
	in->cap = &f->cap;
	f->region = (struct vmm_region){false, 0xe0000000, 0x4000};
	in->regions = &f->region;
	in->nr_regions = 1;
	return f;
}

/* The next tick, one second on, with every total moved by the given amounts. */
static void tick(struct fixture *f, uint64_t exits, uint64_t pio_vmm, uint64_t packets)
{
	struct readings *in = &f->in;
	in->seq++;
	in->dt = in->seq > 1 ? 1.0 : 0;
	in->t += in->seq > 1 ? 1.0 : 0;
	f->values[0] += exits;
	f->ctl.kind[EK_PIO_VMM].ops += pio_vmm;
	in->vmm.pio_vmm += pio_vmm;
	in->vmm.userspace_exits += pio_vmm;
	f->kt.total[KT_PIO] += pio_vmm;
	f->kt.nr_detail[KT_PIO] = 1;
	f->kt.detail[KT_PIO][0] = (struct kt_detail){PORT_EXIT_VMM, f->kt.total[KT_PIO]};
	f->nic.total.tx_packets += packets;
	f->ctl.net_tx_packets += packets;
	snapshot_assemble(&f->a, in, &f->snap);
}

TEST(assembly_turns_totals_into_rates_from_the_second_tick)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	CHECK(f->snap.seq == 1 && f->snap.dt == 0);
	CHECK(f->snap.exits[EK_PIO_VMM][SRC_GUEST].rate == 0);
	tick(f, 500, 300, 0);
	CHECK(f->snap.exits[EK_PIO_VMM][SRC_GUEST].valid);
	CHECK(f->snap.exits[EK_PIO_VMM][SRC_GUEST].rate == 300);
	CHECK(f->snap.exits[EK_PIO_VMM][SRC_VMM].rate == 300);
	CHECK(f->snap.exits[EK_PIO_VMM][SRC_BPF].rate == 300);
	const struct named_figure *n = snapshot_find(f->snap.stats, f->snap.nr_stats, "exits");
	REQUIRE(n);
	CHECK(n->f.rate == 500 && n->f.total == 500);
	free(f);
}

TEST(assembly_ranks_the_source_closest_to_the_exit_first)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	tick(f, 0, 100, 0);
	CHECK(f->snap.exits_src[EK_PIO_VMM] == SRC_BPF);
	/* Without the probes the VMM's own count speaks, and the probes' figures say "-". */
	f->in.kt = NULL;
	f->in.bpf_why = "eBPF probes are off (--no-bpf)";
	tick(f, 0, 100, 0);
	CHECK(f->snap.exits_src[EK_PIO_VMM] == SRC_VMM);
	CHECK(!f->snap.exits[EK_PIO_VMM][SRC_BPF].valid);
	CHECK(!f->snap.bpf_on && !strcmp(f->snap.bpf_why, "eBPF probes are off (--no-bpf)"));
	free(f);
}

TEST(assembly_leaves_what_kvm_pvm_does_not_count_unmeasured)
{
	struct fixture *f = fixture();
	f->kt.attached[KT_HYPERCALL] = true;
	tick(f, 0, 0, 0);
	f->kt.total[KT_HYPERCALL] = 0;
	tick(f, 0, 0, 0);
	/* kvm_pvm never fires kvm_hypercall: a 0 there would be a lie, so it is "-". */
	CHECK(!f->snap.exits[EK_HYPERCALL][SRC_BPF].valid);
	CHECK(!f->snap.exits[EK_HYPERCALL][SRC_STATS].valid);
	/* Inside KVM (an irqchip), HLT never reaches the VMM: its count there is "-". */
	CHECK(!f->snap.exits[EK_HLT][SRC_VMM].valid);
	free(f);
}

TEST(assembly_drops_mmio_exits_as_mmio_vmm_in_a_tick_where_card_registers_trapped)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	f->values[1] += 200;
	tick(f, 0, 0, 0);
	CHECK(f->snap.exits[EK_MMIO_VMM][SRC_STATS].valid);
	f->values[1] += 200;
	f->nic.total.reg_traps += 5;
	tick(f, 0, 0, 0);
	CHECK(!f->snap.exits[EK_MMIO_VMM][SRC_STATS].valid);
	free(f);
}

TEST(assembly_counts_every_exit_per_packet_and_the_nic_part_apart)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	f->nic.total.notify_events += 50;
	f->kt.nr_detail[KT_MMIO] = 1;
	f->kt.detail[KT_MMIO][0] = (struct kt_detail){0xe0000000 >> 12, 40};
	tick(f, 2000, 500, 1000);
	const struct per_packet *pp = f->snap.per_packet;
	CHECK(pp[PP_ALL].valid && pp[PP_ALL].value == 2.0 && !strcmp(pp[PP_ALL].source, "stats"));
	CHECK(pp[PP_USERSPACE].valid && pp[PP_USERSPACE].value == 0.5);
	CHECK(pp[PP_IN_KERNEL].valid && pp[PP_IN_KERNEL].value == 1.5);
	/* The card's part: the probes' kvm_mmio inside its BAR, not the VMM's count. */
	CHECK(pp[PP_NIC].valid && pp[PP_NIC].value == 0.04 && !strcmp(pp[PP_NIC].source, "bpf"));
	free(f);
}

TEST(assembly_keeps_a_switch_out_of_the_compare_table)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	tick(f, 1000, 0, 1000);
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].valid);
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].tx_pps == 1000);
	f->in.switching = true;
	f->in.switch_to = NIC_MODE_VF;
	f->in.switch_unsettled = true;
	tick(f, 1000, 0, 5000);
	CHECK(f->snap.switching && f->snap.switch_to == NIC_MODE_VF);
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].tx_pps ==
	      1000); /* the switching tick changed nothing */
	f->in.switching = f->in.switch_unsettled = false;
	f->in.switch_end_t = f->in.t + 0.5; /* ended inside the next tick: it is not clean either */
	tick(f, 1000, 0, 5000);
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].tx_pps == 1000);
	tick(f, 1000, 0, 3000);
	/* The row adds up the clean ticks: 1000 and 3000 packets in two seconds. */
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].tx_pps == 2000);
	free(f);
}

TEST(assembly_keeps_a_cards_row_across_visits_and_starts_it_again_for_a_new_workload)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	tick(f, 2000, 0, 1000); /* virtio: 2 exits a packet */
	f->in.nic_mode = NIC_MODE_VF;
	tick(f, 0, 0, 4000); /* on the VF: its own row */
	CHECK(f->snap.compare[NIC_MODE_VF].valid && f->snap.compare[NIC_MODE_VF].tx_pps == 4000);
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].tx_pps == 1000); /* virtio's stays */
	f->in.nic_mode = NIC_MODE_VIRTIO;
	tick(f, 0, 0, 3000); /* back on virtio: no exits this time */
	const struct mode_figures *v = &f->snap.compare[NIC_MODE_VIRTIO];
	CHECK(v->tx_pps == 2000);				/* 4000 packets in 2 s on it */
	CHECK(v->exits_all.valid && v->exits_all.value == 0.5); /* 2000 exits, 4000 packets */
	f->in.workload = WL_PING;
	tick(f, 0, 0, 100);
	CHECK(f->snap.compare[NIC_MODE_VIRTIO].tx_pps == 100); /* another workload: anew */
	free(f);
}

TEST(assembly_shows_no_capture_figures_without_a_capture)
{
	struct fixture *f = fixture();
	f->in.cap = NULL;
	f->in.cap_why = "the capture is off (--no-capture)";
	tick(f, 0, 0, 0);
	tick(f, 0, 0, 10);
	CHECK(!f->snap.cap_on && !f->snap.cap_from_guest.valid);
	CHECK(!strcmp(f->snap.cap_why, "the capture is off (--no-capture)"));
	CHECK(f->snap.net_on && f->snap.dev_tx.rate == 10);
	free(f);
}

TEST(assembly_of_a_new_guest_starts_its_rates_again)
{
	struct fixture *f = fixture();
	tick(f, 0, 0, 0);
	tick(f, 100, 100, 0);
	assembly_new_guest(&f->a);
	/* The new guest's counters start from zero: the first tick is a baseline, no rate. */
	memset(&f->ctl, 0, sizeof(f->ctl));
	f->in.vmm = (struct vmm_counters){0};
	f->in.seq = 0;
	tick(f, 0, 0, 0);
	CHECK(f->snap.dt == 0 && f->snap.exits[EK_PIO_VMM][SRC_GUEST].rate == 0);
	free(f);
}

TEST(assembly_shows_the_probes_cost_per_event_and_as_a_share_of_the_vcpu)
{
	struct fixture *f = fixture();
	f->in.cpu_ok = true;
	f->kt.cost_on = true;
	tick(f, 0, 0, 0);
	CHECK(f->snap.bpf_cost_on && !f->snap.bpf_ns_per_run_valid &&
	      !f->snap.bpf_vcpu_share_valid);
	/* A second on: 1000 runs, 100 of them another process's; the vCPU ran 10 ms. No window of
	 * the kernel's accounting has ended yet: no cost, "-" rather than 0. */
	f->kt.run_cnt += 1000;
	f->kt.others += 100;
	f->in.cpu.vcpu_ns += 10000000;
	tick(f, 0, 900, 0);
	CHECK(f->snap.bpf_runs.rate == 1000 && f->snap.bpf_others.total == 100);
	CHECK(!f->snap.bpf_ns_per_run_valid && !f->snap.bpf_vcpu_share_valid);
	CHECK(f->snap.bpf_run_ns.total == 0);
	/* A window ends: the kernel ran the probes 2000 times in 300 us (150 ns a run). The next
	 * second's 1000 runs, 900 of them this VMM's, are costed at it: 135 us of the vCPU's
	 * 10 ms, and the window's figures stand until the next one ends. */
	f->kt.win_seq = 1;
	f->kt.win_runs = 2000;
	f->kt.win_ns = 300000;
	f->kt.win_counted = 1998;
	f->kt.run_cnt += 1000;
	f->kt.others += 100;
	f->in.cpu.vcpu_ns += 10000000;
	tick(f, 0, 900, 0);
	CHECK(f->snap.bpf_ns_per_run_valid && f->snap.bpf_ns_per_run == 150);
	CHECK(f->snap.bpf_win_runs == 2000 && f->snap.bpf_win_counted == 1998);
	CHECK(f->snap.bpf_run_ns.total == 150000 && f->snap.bpf_cost_every == KT_COST_EVERY);
	CHECK(f->snap.bpf_vcpu_share_valid);
	CHECK(f->snap.bpf_vcpu_share > 0.01349 && f->snap.bpf_vcpu_share < 0.01351);
	/* The kernel that does not account run time: the figures are "-", not 0. */
	f->kt.cost_on = false;
	tick(f, 0, 0, 0);
	CHECK(!f->snap.bpf_cost_on && !f->snap.bpf_ns_per_run_valid);
	free(f);
}

TEST(hardware_exit_reasons_are_named_as_the_manuals_name_them)
{
	char b[40];
	const char *n;
	CHECK((n = hw_exit_reason_name(HOST_VTX, 12, b, sizeof(b))) && !strcmp(n, "HLT"));
	CHECK((n = hw_exit_reason_name(HOST_VTX, 30, b, sizeof(b))) &&
	      !strcmp(n, "IO_INSTRUCTION"));
	CHECK((n = hw_exit_reason_name(HOST_VTX, 48, b, sizeof(b))) && !strcmp(n, "EPT_VIOLATION"));
	CHECK((n = hw_exit_reason_name(HOST_VTX, 75, b, sizeof(b))) && !strcmp(n, "NOTIFY"));
	CHECK(!hw_exit_reason_name(HOST_VTX, 35, b, sizeof(b))); /* reserved */
	CHECK(!hw_exit_reason_name(HOST_VTX, 1000, b, sizeof(b)));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x78, b, sizeof(b))) && !strcmp(n, "HLT"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x7b, b, sizeof(b))) && !strcmp(n, "IOIO"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x60, b, sizeof(b))) && !strcmp(n, "INTR"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x8f, b, sizeof(b))) &&
	      !strcmp(n, "EFER_WRITE_TRAP"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x400, b, sizeof(b))) && !strcmp(n, "NPF"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x4e, b, sizeof(b))) && !strcmp(n, "EXCP14"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x10, b, sizeof(b))) && !strcmp(n, "WRITE_CR0"));
	CHECK((n = hw_exit_reason_name(HOST_AMDV, 0x93, b, sizeof(b))) &&
	      !strcmp(n, "CR3_WRITE_TRAP"));
	CHECK(!hw_exit_reason_name(HOST_AMDV, 0x404, b, sizeof(b)));
	CHECK(!hw_exit_reason_name(HOST_PVM, 12, b, sizeof(b))); /* kvm_pvm has no kvm_exit */
}
