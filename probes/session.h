/* The session API: the one way front ends drive vmscope (boot, tick, switch, pause, restart). */
#ifndef VMSCOPE_SESSION_H
#define VMSCOPE_SESSION_H
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "probes/snapshot.h"
#include "vmm/vmm.h"

struct session_opts {
	enum cpu_mode cpu;
	enum workload workload;
	uint32_t kind; /* exit kind (EK_*), or fault kind for WL_FAULT */
	uint32_t rate; /* operations per second, 0 = as fast as possible */
	const char *kvm_path;
	const char *log_path;
	bool no_bpf;
	bool no_stats;	 /* do not read KVM's binary stats fd (its figures show -) */
	bool no_capture; /* no libpcap capture on the link (it costs the link's writer ~20%) */
	bool verbose;
	unsigned hang_timeout_ms;
	enum nic_mode nic;     /* the network card on the link; NIC_MODE_NONE: none */
	uint32_t pkt_size;     /* payload bytes of ping and tx packets; 0: 64 */
	const char *pcap_file; /* also write the capture there */
	/* Several VMs on the one link (0 or 1: one). VM1 runs the workload above; VM2.. are its
	 * neighbours and run theirs, at their rate (0: as fast as they can). */
	unsigned vms;
	enum workload neighbours;
	uint32_t neighbour_rate;
};

struct session;

/* Boots the VM and opens every metric source it can; *why says what failed (or, on success,
 * NULL). Sources that are missing (eBPF without root) are reported in the snapshot instead.
 * SESSION_NO_PCAP: --pcap was asked for and the capture cannot record; *why says why. */
#define SESSION_NO_PCAP (-ENOTCONN)
int session_open(struct session **out, const struct session_opts *opts, const char **why);
/* What session_open would refuse, found without creating anything: no KVM device to open, or
 * --pcap where no TAP link can be built (SESSION_NO_PCAP). 0, or -errno with *why. */
int session_check(const struct session_opts *opts, const char **why);
void session_tick(struct session *s, struct snapshot *snap);
void session_set_workload(struct session *s, enum workload wl, uint32_t kind, uint32_t rate);
void session_set_packet_size(struct session *s, uint32_t bytes);
void session_pause(struct session *s, bool pause);
bool session_paused(const struct session *s);
/* Why the in-process loopback peer stands in for the TAP link; NULL when it does not. */
const char *session_net_why(struct session *s);
/* The guest faulted, shut down or hung (the next tick says how). */
bool session_guest_failed(struct session *s);
/* The TAP link was removed from outside (the TAP or the namespace's name): it cannot come
 * back, and the run ends (the tick that found it has its event, why says what happened). */
bool session_link_gone(const struct session *s);
/* Moves the running guest to another network card, make before break (vmm_switch_nic); the
 * switch's event, with its blackout and loss, comes in a later tick. 0, or -errno with *why
 * (the same card, a switch under way, no card, the guest paused or failed). */
int session_switch_nic(struct session *s, enum nic_mode to, const char **why);
/* One VM's card alone (vm from 0, VM1; session_switch_nic moves every VM's): VM1's switch is
 * followed to its event as ever, a neighbour's is said in the log. 0, or -errno with *why. */
int session_switch_vm_nic(struct session *s, unsigned vm, enum nic_mode to, const char **why);
/* The longest silence in the guest's traffic over the next ms milliseconds with no switch, the
 * same measure as a switch's blackout, by the capture and by the VMM (out_ms[0], [1]; NAN where
 * that source is off or saw no frame after the window): what the machine alone does to the
 * traffic in a switch's time. Blocks for the window. 0, or -EBUSY while a switch is followed. */
int session_quiet_gap(struct session *s, double ms, double out_ms[2]);
/* Between ticks, as often as the front end can (every 50-100 ms): a switch that ended gets its
 * blackout windows closed where it ended, not at the next tick. */
void session_poll(struct session *s);
/* The run is ending: a switch still being followed becomes its event now, with what it has
 * measured. True: events wait for a last tick to carry them. */
bool session_settle(struct session *s);
/* A guest has not said it is up yet, VM1 or a neighbour (a planned switch waits for them). */
bool session_guest_booting(struct session *s);
/* The host's kind of virtualization, and the guest's CPU mode now. */
enum host_kind session_host(struct session *s);
/* Why the guest's CPU mode is not the one asked for (auto without usable KVM), or NULL. */
const char *session_cpu_note(struct session *s);
enum cpu_mode session_cpu_mode(struct session *s);
/* The card the guest's traffic goes through now. */
enum nic_mode session_nic_mode(struct session *s);
/* Reboots the guest in another CPU mode; on failure the old VM keeps running. */
int session_restart(struct session *s, enum cpu_mode cpu, const char **why);
struct vlog *session_log(struct session *s);
struct vmm *session_vmm(struct session *s);
/* VM i of several (--vms; 0 is VM1, session_vmm's), or NULL. */
struct vmm *session_vmm_of(struct session *s, unsigned i);
/* An output the session writes (--pcap, --log) stopped: a sentence saying which, why and how much
 * it holds, once per output (1), or nothing new (0). final: the run is over; the capture stops
 * and the --pcap file's last packets are written out and checked first. */
int session_outputs_news(struct session *s, bool final, char *out, size_t n);
void session_close(struct session *s);
/* --vms: 1 to NET_VMS_MAX, on a card that several VMs can share; 0, or -EINVAL with *why. */
int session_check_vms(const struct session_opts *opts, const char **why);
unsigned session_vms(const struct session *s);
/* The datagrams a neighbour's tx sends back to back at a rate (its bursts: session.c). */
uint32_t session_neighbour_burst(uint32_t rate);
/* What VM2.. run (the neighbours' load on the shared path). */
void session_set_neighbours(struct session *s, enum workload wl, uint32_t rate);

#endif
