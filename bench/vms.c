/* bench/vms: several VMs on one link (vmscope --vms), for each card in one run: VM1's closed-loop
 * ping p50 and p99 alone (its neighbours idle) and while its N-1 neighbours load the path at a
 * rate (tx, the default: they send; rx: the peer floods each; both),
 * and the host CPU a packet costs with them loading the path: the VMs' vCPU threads outside
 * their guests, and the one network thread they share when it is the VMM's (its switch and the
 * cards it emulates). On vf that thread is the SR-IOV card's engine, the card's silicon: its
 * CPU is shown as the card's, not the host's. Windows alternate idle and loaded so the machine's
 * drift hits both alike; the percentiles are over every ping of each kind of window (the
 * session's own split, snap_vms). The probes and the capture are off: the path is measured, not
 * the observer.
 *
 *   sudo build/bench/vms [VMS]      VMS 2..4 (default 3)
 *   VMS_RATE=pps (the neighbours') VMS_LOAD=tx|rx|both (what they run)
 *   VMS_PING_RATE=pings/s (VM1's; 0, the default: back to back)
 *   VMS_ROUNDS=n VMS_WINDOW=seconds
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/bench.h"
#include "probes/session.h"
#include "vmm/clock.h"
#include "vmm/names.h"

static unsigned env_uint(const char *name, unsigned def, unsigned lo, unsigned hi)
{
	const char *e = getenv(name);
	char *end;
	unsigned long v = e ? strtoul(e, &end, 10) : def;
	if (e && (*end || v < lo || v > hi)) {
		fprintf(stderr, "bench/vms: %s wants %u to %u, not '%s'\n", name, lo, hi, e);
		exit(2);
	}
	return (unsigned)v;
}

/* Host CPU a packet this tick, ns, over every VM's packets: each VM's vCPU thread outside its
 * guest, and the shared thread (vmm: *path; the card's engine: *card). False: no packet. */
static bool host_cpu(const struct snapshot *s, double *pps, double *vcpu_ns, double *path_ns)
{
	const struct snap_vms *m = &s->vms;
	double p = 0, vcpu = 0;
	for (unsigned i = 0; i < m->nr; i++) {
		const struct snap_vm *v = &m->vm[i];
		double n = v->dev_tx.rate + v->dev_rx.rate;
		p += n;
		if (v->per_packet[PP_CPU_VMM].valid)
			vcpu += v->per_packet[PP_CPU_VMM].value * n;
	}
	if (p <= 0 || !m->path_cpu.valid)
		return false;
	*pps = p;
	*vcpu_ns = vcpu;
	*path_ns = m->path_cpu.value * p;
	return true;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	unsigned rate = env_uint("VMS_RATE", NEIGHBOUR_RATE_DEFAULT, 100, 1000000);
	unsigned rounds = env_uint("VMS_ROUNDS", 3, 1, 100);
	unsigned ping_rate = env_uint("VMS_PING_RATE", 0, 0, 1000000);
	double window = env_uint("VMS_WINDOW", 2, 1, 60);
	const char *load_name = getenv("VMS_LOAD") ? getenv("VMS_LOAD") : "tx";
	enum workload load;
	if (neighbour_load_parse(load_name, &load) || load == WL_IDLE || load == WL_PING) {
		fprintf(stderr, "bench/vms: VMS_LOAD wants tx, rx or both, not '%s'\n", load_name);
		return 2;
	}
	if (n < 2 || n > 4) {
		fprintf(stderr, "usage: bench/vms [VMS]: VMS from 2 to 4 (default 3)\n");
		return 2;
	}
	print_machine();
	printf("%u VMs on one link: VM1 pings the peer (closed loop); VM2..VM%u run %s at %u pps "
	       "each (in bursts of %u) or idle; %u rounds of %.0f s idle, %.0f s "
	       "loaded per card; probes and capture off\n",
	       n, n, workload_name(load), rate, session_neighbour_burst(rate), rounds, window,
	       window);
	static const enum nic_mode modes[] = {NIC_MODE_EMULATED, NIC_MODE_VIRTIO, NIC_MODE_VF};
	static struct snapshot snap;
	int status = 0;
	for (unsigned mi = 0; mi < 3; mi++) {
		struct session_opts so = {.cpu = CPU_AUTO,
					  .workload = WL_PING,
					  .rate = ping_rate,
					  .nic = modes[mi],
					  .no_bpf = true,
					  .no_capture = true,
					  .vms = n,
					  .neighbours = WL_IDLE,
					  .neighbour_rate = rate};
		struct session *s;
		const char *why;
		if (session_open(&s, &so, &why)) {
			fprintf(stderr, "bench/vms: %s\n", why);
			return 1;
		}
		for (double t0 = mono_s(); session_guest_booting(s) && mono_s() - t0 < 30;)
			nap(0.05);
		session_tick(s, &snap); /* the baseline */
		double pkts = 0, vcpu = 0, path = 0;
		for (unsigned r = 0; r < rounds; r++)
			for (int loaded = 0; loaded < 2; loaded++) {
				session_set_neighbours(s, loaded ? load : WL_IDLE, rate);
				session_tick(s,
					     &snap); /* the change's own tick: counted in neither */
				nap(window);
				session_tick(s, &snap);
				double p, v, w;
				if (loaded && host_cpu(&snap, &p, &v, &w)) {
					pkts += p;
					vcpu += v;
					path += w;
				}
			}
		const struct snap_vms *m = &snap.vms;
		const struct snap_vm1_load *l = &m->load[modes[mi]];
		const char *name = nic_mode_name(modes[mi]);
		if (!l->valid[0] || !l->valid[1] || pkts <= 0) {
			printf("%s: VM1's pings were not measured in both kinds of window\n", name);
			status = 1;
		} else {
			double host = (vcpu + (m->path_card ? 0 : path)) / pkts / 1e3;
			printf("%s: VM1 p99 alone %.1f us, loaded %.1f us, p99 loaded/alone %.2f, "
			       "host cpu/pkt %.2f us\n",
			       name, l->us[0][1], l->us[1][1], l->us[1][1] / l->us[0][1], host);
			printf(
			    "    p50 alone %.1f us, loaded %.1f us (%llu and %llu pings); a packet "
			    "loaded: vCPU threads %.2f us, %s %.2f us\n",
			    l->us[0][0], l->us[1][0], (unsigned long long)l->pings[0],
			    (unsigned long long)l->pings[1], vcpu / pkts / 1e3,
			    m->path_card ? "the card's engine (not the host's)"
					 : "the VMM's network thread",
			    path / pkts / 1e3);
		}
		session_close(s);
	}
	return status;
}
