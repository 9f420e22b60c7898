/* vmscope attach: another process's KVM VM as a snapshot source. What the host can see of any VM
 * and no more: the vCPUs' binary stats through the stats fds the VMM holds (duplicated with
 * pidfd_getfd: the VMM is never stopped or changed), and the probes on KVM's tracepoints
 * filtered to its process, with each exit timed. It cannot be driven. */
#ifndef VMSCOPE_PROBES_ATTACH_H
#define VMSCOPE_PROBES_ATTACH_H
#include <stdbool.h>
#include <stddef.h>

#include "probes/snapshot.h"

struct attach_opts {
	int pid;
	bool no_bpf, no_stats, verbose;
	bool sample; /* the probes on for one tick in KT_TIME_EVERY (KT_OPEN_SAMPLED) */
};

struct attach;

/* Opens the watch on a VMM; -errno with a sentence in why[n] when pid is no process, holds no
 * KVM VM, or is not this user's to look into. The probes or the stats missing is no failure:
 * the snapshots say why. */
int attach_open(struct attach **out, const struct attach_opts *o, char *why, size_t n);
void attach_tick(struct attach *a, struct snapshot *snap);
/* The VMM exited (or dropped its VM): the sentence that says so (the tick that found it carries
 * it as its reason), and the run ends; NULL while it runs. */
const char *attach_gone(const struct attach *a);
void attach_close(struct attach *a);

#endif
