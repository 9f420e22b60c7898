/* Inside the session: struct session, shared by session.c (lifecycle, control, the tick) and
 * switch_watch.c (following a live switch to its event). */
#ifndef VMSCOPE_PROBES_SESSION_IMPL_H
#define VMSCOPE_PROBES_SESSION_IMPL_H
#include "probes/assemble.h"
#include "probes/session.h"
#include "vmm/net/backend.h"

/* One VM of the session and what is read of it alone: its vCPU's stats fd, and for VM2.. their
 * own assembly (VM1's is the session's: its record is the top level). */
struct session_vm {
	struct vmm *vm;
	struct kstats ks;
	uint64_t *stat_values;
	struct assembly *asm_state; /* VM2.. */
	struct snapshot *snap;	    /* VM2..: their tick, for the record's vms */
	bool failed_said;	    /* VM2..: its failure is an event already */
	struct ctl_page ctl;	    /* its control page as the tick read it */
	uint64_t path_pkts;	    /* its card's packets at the last tick (path_shares) */
	double path_share;	    /* its part of the shared network thread this tick */
	/* VM2..: a switch of every VM it refused because its own last one was still letting its
	 * old card go; asked again at every poll until it starts or is refused for good. */
	bool switch_pending;
	enum nic_mode switch_to;
};

struct session {
	struct session_opts opts;
	struct vmm *vm;	 /* VM1: vms[0].vm */
	unsigned nr_vms; /* --vms: 1 unless asked */
	struct session_vm vms[NET_VMS_MAX];
	struct net *net;     /* outlives every VM of the session: link, peer and capture stay */
	struct vsnic *sriov; /* several VMs: the host's SR-IOV card, a VF for each (vsnic.h) */
	struct kvmtrace *kt;
	const char *bpf_why;
	struct capture *cap;
	const char *cap_why;
	bool pcap_said, log_said; /* the output's failure was told (session_outputs_news) */
	bool paused;
	bool failed_said; /* this guest's failure is an event already */
	/* The TAP link as the last tick found it (a change is an event), since when, and how
	 * many times it went down or away. */
	enum link_state link_state;
	double link_since;
	uint64_t link_faults;
	char link_why[160];
	uint64_t log_seq; /* the next line of the VMM's log a tick carries */
	double t0, last;
	uint64_t seq;
	double
	    host_work_ns; /* the work loop on the host: ns per instruction, fastest of its runs */
	struct assembly asm_state;
	/* VM1's ping histogram at the last tick, and its pings on each card with the neighbours
	 * idle [0] and loading the path [1]. */
	uint64_t vm1_hist[RTT_SLOTS], load_hist[NIC_MODE_MAX][2][RTT_SLOTS];
	enum nic_mode load_mode;
	enum workload load_was; /* the neighbours' workload at the last tick */
	/* The shared path's totals at the last tick (switched, link tx, link rx, network thread
	 * ns, the peer's sink), for rates. */
	uint64_t path_prev[5];
	uint64_t cap_prev[NET_VMS_MAX][2]; /* each VM's capture counts at the last tick */
	bool path_prev_ok;
	/* A tick's readings that are too large for the stack. */
	struct kt_counts kt_counts;
	/* The switch being followed until its event is complete, and events not yet ticked out. */
	struct {
		bool on, ended;
		uint32_t seq;
		double t_start, t_ended;
		uint64_t real_minus_mono;
		uint64_t lost0,
		    cap_lost0; /* guest_lost() and the capture's seq_lost at the start */
		struct vmm_switch sw;
		struct ctl_page ctl; /* read at its start and its end */
	} track;
	double switch_end_t; /* when the last switch ended (session seconds) */
	unsigned nr_events;
	struct snap_event events[SNAP_EVENTS_MAX];
	uint32_t events_dropped;
};

/* switch_watch.c */
void session_queue_event(struct session *s, const struct snap_event *ev);
/* Has the followed switch ended, and are its measurements in? Its event when they are. */
void switch_watch_follow(struct session *s);
/* A restart ends the followed switch: its event goes out with what it measured. */
void switch_watch_end(struct session *s, const char *why);
/* A switch is under way (to *to). */
bool switch_watch_switching(const struct session *s, enum nic_mode *to);

#endif
