/* The host-side link every NIC mode ends on: a network namespace vmscope creates for itself, a
 * TAP inside it, addresses on a private /24, and a peer there (UDP echo and sink; the namespace's
 * own kernel answers ARP and ICMP echo). Nothing touches the host's own network. */
#ifndef VMSCOPE_LINK_H
#define VMSCOPE_LINK_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/names.h"

#define LINK_NETNS_DIR "/run/netns"
/* Who holds which namespace name: one flock each, let go by the kernel when its holder dies. */
#define LINK_LOCK_DIR	  "/run/vmscope"
#define LINK_NETNS_PREFIX "vmscope-"
#define LINK_TAP	  "vmscope0"
#define LINK_PEER_IP	  0x0a4d0001u /* 10.77.0.1: the namespace's end of the link */
#define LINK_GUEST_IP	  0x0a4d0002u /* 10.77.0.2: the guest */
#define LINK_PREFIX	  24
#define LINK_PORT_ECHO	  7
#define LINK_PORT_SINK	  9
/* The guests the peer tells apart: LINK_GUEST_IP + 0 .. LINK_VMS - 1 (--vms). */
#define LINK_VMS 4

struct link_counters {
	uint64_t echo_rx, echo_tx, sink_rx, sink_rx_bytes; /* the peer's responder sockets */
	uint64_t sink_vm[LINK_VMS];			   /* sink_rx by the guest that sent it */
	uint64_t drive_tx[LINK_VMS];			   /* what the peer sent each guest */
	uint64_t drive_echoes, drive_rtt_ns;		   /* VM1's echoes back, and their time */
};

/* What the peer does on its own initiative, towards one guest. */
enum link_drive { LINK_QUIET, LINK_FLOOD, LINK_ECHO };
struct link_target {
	uint32_t what;	/* enum link_drive */
	uint32_t rate;	/* datagrams a second, 0: as fast as it can */
	uint32_t size;	/* payload bytes */
	uint32_t burst; /* paced: datagrams sent together (0 or 1: one at a time) */
};

struct link {
	char netns[32];	     /* vmscope-<pid>, or vmscope-<pid>-<n> when that name is taken */
	char netns_path[64]; /* /run/netns/<netns>: `ip netns exec` works on it */
	int lock_fd; /* the flock on LINK_LOCK_DIR/<netns>.lock that says the name is ours */
	int tap_fd;  /* frames to and from the namespace */
	uint8_t peer_mac[6]; /* the TAP's MAC inside the namespace */
	int echo_fd, sink_fd, stop_fd, client_fd;
	pthread_t peer, driver;
	bool peer_running, driver_running;
	struct link_target target[LINK_VMS]; /* read by the driver thread */
	unsigned long cpus[16]; /* the CPUs this process could use at link_open (a cpu_set_t) */
	int peer_cpu;		/* the last of them when there are two or more, else -1 */
	uint64_t ns_dev,
	    ns_ino; /* the namespace netns_path names: ours, until someone removes it */
	struct link_counters cnt; /* written by the peer thread */
};

/* Needs CAP_NET_ADMIN and CAP_SYS_ADMIN; *why says what went wrong. Reaps stale links first. */
/* Whether a TAP link can be built here (root, /dev/net/tun), creating nothing. 0, or -errno
 * with *why. */
int link_check(const char **why);
int link_open(struct link *l, const char **why);
void link_close(struct link *l);
/* The link as it is now, seen from outside the data path: up; down (the TAP set down from
 * outside: traffic resumes when it is set up again); or gone (the TAP or the namespace's name
 * removed from outside: it cannot come back). why: a sentence saying what happened, when not up. */
enum link_state link_health(const struct link *l, char *why, size_t n);
/* Removes links whose vmscope process is gone (killed runs). Returns how many. */
int link_reap_stale(void);
void link_read_counters(struct link *l, struct link_counters *out);
/* Makes the peer flood guest i's port 9 (LINK_GUEST_IP + i) or send to its port 7 (echo, VM1
 * only), at t.rate datagrams per second (0: as fast as possible) of t.size payload bytes, t.burst
 * of them at a time; LINK_QUIET stops it. Each guest has its own stream of sequence numbers, and
 * the peer takes the guests in turn.
 *
 * While it floods, the peer stands for another machine on the wire: with two CPUs or more, its
 * driver thread gets the last one to itself and the nvm threads in vm (the vCPU, the card's
 * thread, a host reader) the others; any other drive gives them all back. Left to itself, the
 * scheduler on two cores settles in one of two placements, the flooder alone on a core or the
 * flooder sharing one with the vCPU that the card's thread keeps waking, and the rx rate moved by
 * a third between runs with it. Only VM1's drive (i == 0) places the threads. Echo keeps every CPU:
 * a closed loop is quicker with the vCPU and the card's thread on two cores than taking turns on
 * one (README, "Where the CPUs go"). */
void link_drive(struct link *l, unsigned i, struct link_target t, const pthread_t *vm,
		unsigned nvm);

#endif
