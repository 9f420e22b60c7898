/* libpcap on the link's TAP, inside vmscope's namespace: traffic measured independently of the
 * VMM and the guest. Packets per second each way, round trips from request/reply timestamps,
 * loss and reordering from the sequence numbers the guest's payloads carry. */
#ifndef VMSCOPE_CAPTURE_H
#define VMSCOPE_CAPTURE_H
#include <stdbool.h>
#include <stdint.h>

#define CAP_HIST_SLOTS 32 /* log2 of nanoseconds */
#define CAP_VMS	       4  /* the guests counted apart: guest_ip + 0 .. CAP_VMS - 1 */

struct capture_counters {
	uint64_t from_guest, to_guest; /* packets seen each way */
	/* The same, for each guest of several on the link (--vms: guest_ip + i; [0] is the one
	 * above); the rest of the analysis follows guest_ip only. */
	uint64_t vm_from[CAP_VMS], vm_to[CAP_VMS];
	uint64_t rtt_samples; /* request/reply pairs matched */
	uint64_t rtt_hist[CAP_HIST_SLOTS];
	uint64_t rtt_ns_sum;
	uint64_t seq_lost, seq_reordered;     /* guest tx sequence numbers */
	uint64_t echo_requests, echo_replies; /* ICMP echoes the guest started, and their replies */
	uint64_t kernel_drops;		      /* pcap_stats ps_drop */
	/* Every frame the kernel took for the capture (ps_recv, its drops included), and every
	 * one the analysis read: the rest is still in the ring. */
	uint64_t kernel_took, frames;
	/* --pcap: packets the file holds (each complete), and whether writing it stopped. */
	bool dump_on, dump_failed;
	int dump_errno; /* why it stopped */
	uint64_t dumped;
};

struct capture;

/* netns: the namespace name (under /run/netns); iface: the TAP inside it. The capture is open
 * (the kernel keeps what arrives) but reads nothing until capture_start. 0, or -errno with *why. */
int capture_open(struct capture **out, const char *netns, const char *iface, uint32_t guest_ip,
		 const char **why);
/* Starts reading; pcap_file: also write every packet there (NULL: no file), created only now.
 * 0, or -errno with *why (the OS's reason is errno's). */
int capture_start(struct capture *c, const char *pcap_file, const char **why);
/* Stops reading and writes out what the --pcap file still holds; its counters stay readable. */
void capture_finish(struct capture *c);
void capture_read(struct capture *c, struct capture_counters *out);
/* The longest silence in the guest's IPv4 traffic around a window, on the capture's timestamps
 * (CLOCK_REALTIME ns): opened at start, given its end later (vmm/gap.h). */
void capture_gap_arm(struct capture *c, uint64_t start);
void capture_gap_end(struct capture *c, uint64_t end);
bool capture_gap_read(struct capture *c, uint64_t *max_ns);
void capture_close(struct capture *c);
/* A percentile of the RTT histogram in microseconds (0 when empty). */
double capture_rtt_percentile_us(const struct capture_counters *c, double q);

/* The per-packet analysis, exposed for tests on hand-made frames. */
struct capture_state;
void capture_analyse(struct capture_counters *cnt, struct capture_state *st, uint32_t guest_ip,
		     const uint8_t *frame, uint32_t len, uint64_t ts_ns);
struct capture_state *capture_state_new(void);
void capture_state_free(struct capture_state *st);

#endif
