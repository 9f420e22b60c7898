/* libpcap capture on the link's TAP inside vmscope's namespace. */
#define _GNU_SOURCE
#include "capture.h"
#include "snapshot.h"
#include "vmm/clock.h"
#include "vmm/gap.h"
#include "vmm/shared/netstack.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PENDING 1024 /* outstanding echo requests we remember */

struct capture_state {
	struct {
		uint64_t key; /* ICMP: 1 << 48 | id << 16 | seq; UDP echo: 2 << 48 | payload seq */
		uint64_t ts;
	} pending[PENDING];
	uint64_t next_seq;
	bool seq_started;
};

struct capture {
	pcap_t *p;
	pcap_dumper_t *dump;
	uint64_t dump_pending;	  /* packets written into the dumper's buffer, not yet flushed */
	long dump_good;		  /* the file's length after the last complete flush */
	uint64_t dump_flushed_ns; /* when */
	int dump_write_errno;	  /* why a write into the file failed, if one did */
	pthread_t thread;
	bool stop;
	uint32_t guest_ip;
	pthread_mutex_t lock;
	struct capture_counters cnt;
	struct capture_state *st;
	struct gap_window gap;
};

struct capture_state *capture_state_new(void)
{
	return calloc(1, sizeof(struct capture_state));
}
void capture_state_free(struct capture_state *st)
{
	free(st);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static void rtt(struct capture_counters *cnt, uint64_t ns)
{
	int slot = 63 - __builtin_clzll(ns | 1);
	cnt->rtt_hist[slot < CAP_HIST_SLOTS ? slot : CAP_HIST_SLOTS - 1]++;
	cnt->rtt_ns_sum += ns;
	cnt->rtt_samples++;
}

static void request(struct capture_state *st, uint64_t key, uint64_t ts)
{
	unsigned i = key % PENDING;
	st->pending[i].key = key;
	st->pending[i].ts = ts;
}

static void reply(struct capture_counters *cnt, struct capture_state *st, uint64_t key, uint64_t ts)
{
	unsigned i = key % PENDING;
	if (st->pending[i].key == key && st->pending[i].ts && ts >= st->pending[i].ts) {
		rtt(cnt, ts - st->pending[i].ts);
		st->pending[i].ts = 0;
	}
}

void capture_analyse(struct capture_counters *cnt, struct capture_state *st, uint32_t guest_ip,
		     const uint8_t *f, uint32_t len, uint64_t ts)
{
	if (len < 14 + 20 || be16(f + 12) != 0x0800)
		return;
	const uint8_t *ip = f + 14;
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4, src = be32(ip + 12), dst = be32(ip + 16);
	bool from_guest = src == guest_ip;
	if (src - guest_ip < CAP_VMS)
		cnt->vm_from[src - guest_ip]++;
	if (dst - guest_ip < CAP_VMS)
		cnt->vm_to[dst - guest_ip]++;
	if (!from_guest && dst != guest_ip)
		return;
	if (from_guest)
		cnt->from_guest++;
	else
		cnt->to_guest++;
	if (ihl < 20 || len < 14 + ihl + 8)
		return;
	const uint8_t *l4 = ip + ihl;
	struct net_echo e;
	if (ip[9] == 1) { /* ICMP echo the guest started: its request out, the reply back */
		if (!net_echo_peek(f, len, &e))
			return;
		uint64_t key = 1ull << 48 | (uint64_t)e.id << 16 | e.seq;
		if (e.type == 8 && from_guest) {
			cnt->echo_requests++;
			request(st, key, ts);
		} else if (e.type == 0 && !from_guest) {
			cnt->echo_replies++;
			reply(cnt, st, key, ts);
		}
	} else if (ip[9] == 17 && len >= 14 + ihl + 8 + 8) {
		uint16_t sport = be16(l4), dport = be16(l4 + 2);
		uint64_t seq;
		memcpy(&seq, l4 + 8, 8); /* the guest's payloads start with a sequence number */
		uint64_t key = 2ull << 48 | (seq & 0xffffffffffffull);
		if (from_guest && dport == 7)
			request(st, key, ts);
		else if (!from_guest && sport == 7)
			reply(cnt, st, key, ts);
		if (from_guest && dport == 9) {
			if (!st->seq_started || seq == st->next_seq) {
				st->seq_started = true;
			} else if (seq > st->next_seq) {
				cnt->seq_lost += seq - st->next_seq;
			} else {
				cnt->seq_reordered++;
				return;
			}
			st->next_seq = seq + 1;
		}
	}
}

static void on_packet(uint8_t *user, const struct pcap_pkthdr *h, const uint8_t *bytes)
{
	struct capture *c = (struct capture *)user;
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
	/* PCAP_TSTAMP_PRECISION_NANO: tv_usec carries nanoseconds. */
	if (c->dump) {
		errno = 0;
		pcap_dump((uint8_t *)c->dump, h, bytes);
		c->dump_pending++;
		/* stdio writes when its buffer fills: the reason is errno's now, not at the flush
		 */
		if (!c->dump_write_errno && ferror(pcap_dump_file(c->dump)))
			c->dump_write_errno = errno ? errno : EIO;
	}
	pthread_mutex_lock(&c->lock);
	c->cnt.frames++;
	uint64_t seen = c->cnt.from_guest + c->cnt.to_guest;
	capture_analyse(&c->cnt, c->st, c->guest_ip, bytes, h->caplen, ts);
	if (c->cnt.from_guest + c->cnt.to_guest != seen)
		gap_frame(&c->gap, ts);
	pthread_mutex_unlock(&c->lock);
}

void capture_gap_arm(struct capture *c, uint64_t start)
{
	gap_arm(&c->gap, start);
}
void capture_gap_end(struct capture *c, uint64_t end)
{
	gap_end(&c->gap, end);
}
bool capture_gap_read(struct capture *c, uint64_t *max_ns)
{
	return gap_read(&c->gap, max_ns);
}

/* The --pcap file is flushed every 200 ms (and at the end), each flush checked: a file that cannot
 * take more (a full disk) is cut back to its last complete packet and closed, and the counters
 * say so. */
static void dump_flush(struct capture *c, bool force)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	if (!c->dump || !c->dump_pending || (!force && now - c->dump_flushed_ns < 200000000ull))
		return;
	FILE *f = pcap_dump_file(c->dump);
	errno = 0;
	if (pcap_dump_flush(c->dump) == 0 && !ferror(f)) {
		pthread_mutex_lock(&c->lock);
		c->cnt.dumped += c->dump_pending;
		pthread_mutex_unlock(&c->lock);
		c->dump_pending = 0;
		c->dump_good = ftell(f);
		c->dump_flushed_ns = now;
		return;
	}
	int e = c->dump_write_errno ? c->dump_write_errno : errno ? errno : EIO;
	if (ftruncate(fileno(f), c->dump_good) < 0) {
		/* the file keeps a partial packet at its end; the message says where it stopped */
	}
	pcap_dump_close(c->dump);
	c->dump = NULL;
	pthread_mutex_lock(&c->lock);
	c->cnt.dump_failed = true;
	c->cnt.dump_on = false;
	c->cnt.dump_errno = e;
	pthread_mutex_unlock(&c->lock);
}

static void *capture_thread(void *arg)
{
	struct capture *c = arg;
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		if (pcap_dispatch(c->p, 256, on_packet, (uint8_t *)c) < 0)
			break;
		dump_flush(c, false);
	}
	dump_flush(c, true);
	return NULL;
}

struct opener {
	struct capture *c;
	const char *netns, *iface;
	char err[PCAP_ERRBUF_SIZE];
	const char *why;
	int r;
};

/* pcap's packet socket belongs to the namespace of the thread that opens it. */
static void *open_in_netns(void *arg)
{
	struct opener *o = arg;
	char path[96];
	snprintf(path, sizeof(path), "/run/netns/%s", o->netns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	o->r = -errno;
	o->why = "the capture could not enter vmscope's network namespace";
	if (fd < 0)
		return NULL;
	if (setns(fd, CLONE_NEWNET) < 0) {
		o->r = -errno;
		close(fd);
		return NULL;
	}
	close(fd);
	o->why = "libpcap could not open the TAP";
	pcap_t *p = pcap_create(o->iface, o->err);
	if (!p)
		return NULL;
	pcap_set_snaplen(p, 256);
	pcap_set_buffer_size(p, 8 << 20);
	pcap_set_timeout(p, 10);
	pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	if (pcap_activate(p) < 0) {
		snprintf(o->err, sizeof(o->err), "%s", pcap_geterr(p));
		pcap_close(p);
		o->r = -EIO;
		return NULL;
	}
	o->c->p = p;
	o->r = 0;
	return NULL;
}

int capture_open(struct capture **out, const char *netns, const char *iface, uint32_t guest_ip,
		 const char **why)
{
	struct capture *c = calloc(1, sizeof(*c));
	struct opener o = {.c = c, .netns = netns, .iface = iface, .r = -EIO};
	pthread_t t;

	if (!c)
		return -ENOMEM;
	c->st = capture_state_new();
	c->guest_ip = guest_ip;
	pthread_mutex_init(&c->lock, NULL);
	if (!c->st || pthread_create(&t, NULL, open_in_netns, &o)) {
		capture_close(c);
		return -ENOMEM;
	}
	pthread_join(t, NULL);
	if (o.r) {
		*why = o.why;
		capture_close(c);
		return o.r;
	}
	*out = c;
	return 0;
}

/* Why the --pcap file cannot be written, as a sentence that outlives the capture. */
static const char *dump_strerror(int e)
{
	switch (e) {
	case ENOSPC: return "the --pcap file could not be written: No space left on device";
	case EDQUOT: return "the --pcap file could not be written: Disk quota exceeded";
	case EFBIG: return "the --pcap file could not be written: File too large";
	case EACCES:
	case EPERM: return "the --pcap file could not be written: Permission denied";
	case EROFS: return "the --pcap file could not be written: Read-only file system";
	case EISDIR: return "the --pcap file could not be written: Is a directory";
	case ENOENT: return "the --pcap file could not be written: No such file or directory";
	default: return "the --pcap file could not be written";
	}
}

int capture_start(struct capture *c, const char *pcap_file, const char **why)
{
	if (pcap_file) {
		/* The file's header goes out at once: a device that takes nothing (/dev/full) is
		 * known now, not at the end. */
		errno = 0;
		c->dump = pcap_dump_open(c->p, pcap_file);
		if (!c->dump || pcap_dump_flush(c->dump) < 0) {
			int e = errno ? errno : EIO;
			if (c->dump)
				pcap_dump_close(c->dump);
			c->dump = NULL;
			*why = dump_strerror(e);
			return -e;
		}
		c->dump_good = ftell(pcap_dump_file(c->dump));
		c->cnt.dump_on = true;
	}
	if (pthread_create(&c->thread, NULL, capture_thread, c)) {
		*why = "the capture's thread could not be started";
		return -EAGAIN;
	}
	return 0;
}

void capture_finish(struct capture *c)
{
	if (!c || !c->thread)
		return;
	__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
	pcap_breakloop(c->p);
	pthread_join(c->thread, NULL);
	c->thread = 0;
}

void capture_read(struct capture *c, struct capture_counters *out)
{
	struct pcap_stat ps;
	pthread_mutex_lock(&c->lock);
	*out = c->cnt;
	pthread_mutex_unlock(&c->lock);
	if (pcap_stats(c->p, &ps) == 0) {
		out->kernel_drops = ps.ps_drop;
		out->kernel_took = ps.ps_recv;
	}
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	capture_finish(c);
	if (c->dump)
		pcap_dump_close(c->dump);
	if (c->p)
		pcap_close(c->p);
	capture_state_free(c->st);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

double capture_rtt_percentile_us(const struct capture_counters *c, double q)
{
	return log2_hist_percentile(c->rtt_hist, CAP_HIST_SLOTS, q) / 1000.0; /* ns to us */
}
