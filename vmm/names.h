/* The VMM's kinds and states, and their names as the command line, the records and the logs spell
 * them: what a front end needs of vmm/ to name things (names.c, kvm/kvm.c). */
#ifndef VMSCOPE_NAMES_H
#define VMSCOPE_NAMES_H
#include <stddef.h>
#include <stdint.h>

#include "vmm/control.h"

/* HOST_NONE: no usable /dev/kvm (absent, or refused to this user); the guest can still run on the
 * translated CPU. Appended, so recordings keep their numbers. */
enum host_kind { HOST_UNKNOWN, HOST_VTX, HOST_AMDV, HOST_PVM, HOST_NONE, HOST_KIND_MAX };
/* CPU_TRANSLATED: no KVM at all; Unicorn's TCG translates the guest's code (vmm/cpu_translated.c).
 */
enum cpu_mode { CPU_AUTO, CPU_HARDWARE, CPU_PARAVIRT, CPU_EMULATED, CPU_TRANSLATED, CPU_MODE_MAX };

enum vmm_state {
	VMM_BOOTING,
	VMM_RUNNING,
	VMM_PAUSED,
	VMM_FAILED,  /* the guest faulted, shut down or hung: vmm_status() says how */
	VMM_STOPPED, /* vmm_stop() */
	VMM_STATE_MAX,
};

/* The TAP link as the session last found it (vmm/net/link.h: link_health). */
enum link_state { LINK_UP, LINK_DOWN, LINK_GONE, LINK_STATE_MAX };

const char *host_kind_name(enum host_kind h); /* "vt-x", "amd-v", "pvm", "none", "unknown" */
const char *cpu_mode_name(enum cpu_mode m);   /* "auto", ..., "emulated", "translated" */
int cpu_mode_parse(const char *s, enum cpu_mode *m);
const char *vmm_state_name(enum vmm_state s);
const char *link_state_name(enum link_state s); /* "up", "down", "gone" */
const char *exit_kind_name(unsigned kind);	/* "pio_vmm", ..., "all" */
int exit_kind_parse(const char *s, uint32_t *kind);
const char *workload_name(unsigned wl);
/* idle, ping, tx, rx, echo, or exits[:KIND] (*kind is set only when a KIND is given); 0, or
 * -EINVAL. The test-only fault workload is the command line's own. */
int workload_parse(const char *s, enum workload *wl, uint32_t *kind);
#define WORKLOADS "idle, exits[:KIND], ping, tx, rx, echo or both" /* for a message */
/* What VM1's neighbours may run (--neighbours, the tour's `neighbours`, the N key), in the N
 * key's order: idle, tx, rx, both, ping. NEIGHBOUR_LOADS names them for a message. */
#define NEIGHBOUR_LOADS "idle, tx, rx, both or ping"
int neighbour_load_parse(const char *s, enum workload *wl);
enum workload neighbour_load_next(enum workload wl);
const char *nic_mode_name(enum nic_mode mode); /* "none", "emulated", "virtio", "vf" */
/* One letter for a card, where a column has room for one: E, V, F ('?' for none). */
char nic_mode_initial(enum nic_mode mode);
int nic_mode_parse(const char *s, enum nic_mode *mode);
/* The list of models built in, for messages ("emulated, virtio, vf or none"). */
const char *nic_mode_list(char *buf, size_t n); /* returns buf */

#endif
