/* Both network backends carry the same conversation: ARP, ping, UDP echo and sink, with frames
 * from the guest's own stack. The TAP backend speaks to the real namespace; the loopback one to
 * its in-process peer. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/need.h"
#include "vmm/shared/netstack.h"
#include "vmm/net/backend.h"
#include "vmm/net/link.h"

struct conv {
	struct net_if nif;
	uint8_t reply[NET_FRAME_MAX];
	enum net_rx_kind last;
	struct net_rx rx;
	unsigned frames;
};

static void on_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	struct conv *c = opaque;
	enum net_rx_kind k = net_receive(&c->nif, frame, len, c->reply, sizeof(c->reply), &c->rx);
	c->frames++;
	if (k != NET_RX_DROP)
		c->last = k;
}

static enum net_rx_kind ask(struct net_backend *be, struct conv *c, const uint8_t *f, size_t n)
{
	struct iovec iov[2] = {{(void *)f, 20},
			       {(void *)(f + 20), n - 20}}; /* gathered, as from a ring */
	c->last = NET_RX_DROP;
	CHECK(be->ops->send(be, iov, 2) == 0);
	for (int i = 0; i < 50 && c->last == NET_RX_DROP; i++)
		be->ops->poll(be, true, 20000);
	return c->last;
}

static void conversation(struct net_backend *be, struct conv *c)
{
	static uint8_t f[NET_FRAME_MAX];
	size_t n = net_arp_request(&c->nif, f, sizeof(f), LINK_PEER_IP);
	CHECK(ask(be, c, f, n) == NET_RX_HANDLED && c->nif.peer_known);
	n = net_icmp_echo(&c->nif, f, sizeof(f), LINK_PEER_IP, 5, 6, "0123456789", 10);
	CHECK(ask(be, c, f, n) == NET_RX_ICMP_REPLY && c->rx.icmp_seq == 6);
	n = net_udp(&c->nif, f, sizeof(f), LINK_PEER_IP, 5555, LINK_PORT_ECHO, "echo me", 7);
	CHECK(ask(be, c, f, n) == NET_RX_UDP && c->rx.payload_len == 7 && c->rx.src_port == 7);
	CHECK(c->nif.rx_bad == 0);
	CHECK(be->st.tx_frames >= 3 && be->st.rx_frames >= 3 && be->st.tx_refused == 0 &&
	      be->st.tx_errors == 0);
}

static void init_conv(struct conv *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->nif.mac, "\x52\x54\x00\x00\x00\x02", 6);
	c->nif.ip = LINK_GUEST_IP;
}

TEST(loopback_backend_answers_like_the_namespace)
{
	static struct conv c;
	struct net_backend *be;
	init_conv(&c);
	REQUIRE(loopback_create(&be) == 0);
	be->port[0] = (struct net_port){.rx = on_rx, .opaque = &c};
	net_backend_port_added(be, 0);
	CHECK(!strcmp(be->ops->name, "loopback"));
	conversation(be, &c);
	be->ops->destroy(be);
}

TEST(tap_backend_on_io_uring_talks_to_the_namespace_and_batches_sends)
{
	static struct conv c;
	static struct link l;
	static uint8_t f[NET_FRAME_MAX];
	struct net_backend *be;
	struct link_counters lc = {0};
	const char *why;

	need_tap();
	init_conv(&c);
	if (link_open(&l, &why)) {
		test_fail(__FILE__, __LINE__, "link_open: %s (%s)", why, strerror(errno));
		return;
	}
	REQUIRE(tap_uring_create(&be, l.tap_fd) == 0);
	be->port[0] = (struct net_port){.rx = on_rx, .opaque = &c};
	net_backend_port_added(be, 0);
	conversation(be, &c);

	/* 1000 datagrams to the sink, sent 100 per poll: all arrive, in far fewer submits. */
	size_t n = net_udp(&c.nif, f, sizeof(f), LINK_PEER_IP, 5556, LINK_PORT_SINK, "x", 1);
	uint64_t submits = be->st.submits;
	for (int batch = 0; batch < 10; batch++) {
		struct iovec iov = {f, n};
		for (int i = 0; i < 100; i++)
			CHECK(be->ops->send(be, &iov, 1) == 0);
		be->ops->poll(be, false, 0);
	}
	for (int i = 0; i < 100 && lc.sink_rx < 1000; i++) {
		be->ops->poll(be, true, 10000);
		link_read_counters(&l, &lc);
	}
	CHECKF(lc.sink_rx == 1000, "the sink got %llu of 1000", (unsigned long long)lc.sink_rx);
	CHECK(be->st.submits - submits <= 20);
	CHECK(be->st.tx_refused == 0 && be->st.tx_errors == 0);
	be->ops->destroy(be);
	link_close(&l);
}

/* The peer's flood comes off the TAP in the order it was sent, with the backend used as the VMM
 * uses it: polled by its own thread, and signalling an eventfd per frame (as irq_raise does). */
struct order {
	struct net_backend *be;
	int efd;
	volatile bool stop;
	uint64_t frames, next, gaps, late;
	bool started;
};

static void on_seq(void *opaque, const uint8_t *f, uint32_t len)
{
	struct order *o = opaque;
	uint64_t seq, one = 1;
	/* IPv4 UDP to the sink port: the payload starts with the sender's sequence number. */
	if (len < 50 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17 || f[36] != 0 ||
	    f[37] != LINK_PORT_SINK)
		return;
	memcpy(&seq, f + 42, 8);
	o->frames++;
	if (o->started && seq < o->next)
		o->late++;
	else if (o->started && seq > o->next)
		o->gaps++;
	if (!o->started || seq >= o->next)
		o->next = seq + 1;
	o->started = true;
	if (write(o->efd, &one, sizeof(one)) < 0)
		o->gaps += 1000000; /* cannot happen: the counter is far from saturation */
}

static void *order_poller(void *arg)
{
	struct order *o = arg;
	while (!o->stop)
		o->be->ops->poll(o->be, true, 10000);
	return NULL;
}

TEST(tap_backend_delivers_a_flood_in_order)
{
	static struct link l;
	static struct order o;
	const char *why;
	pthread_t th;
	static uint8_t f[128];
	struct net_if nif = {.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56}, .ip = LINK_GUEST_IP};

	need_tap();
	memset(&o, 0, sizeof(o));
	if (link_open(&l, &why)) {
		test_fail(__FILE__, __LINE__, "link_open: %s (%s)", why, strerror(errno));
		return;
	}
	o.efd = eventfd(0, EFD_NONBLOCK);
	REQUIRE(o.efd >= 0);
	REQUIRE(tap_uring_create(&o.be, l.tap_fd) == 0);
	o.be->port[0] = (struct net_port){.rx = on_seq, .opaque = &o};
	net_backend_port_added(o.be, 0);
	/* Nobody answers ARP here: an ARP request from the guest's address teaches the namespace
	 * its MAC (RFC 826: the target records the sender). */
	struct iovec iov = {f, net_arp_request(&nif, f, sizeof(f), LINK_PEER_IP)};
	CHECK(o.be->ops->send(o.be, &iov, 1) == 0);
	o.be->ops->poll(o.be, true, 50000);
	REQUIRE(pthread_create(&th, NULL, order_poller, &o) == 0);
	link_drive(&l, 0, (struct link_target){LINK_FLOOD, 10000, 64, 1}, NULL, 0);
	CHECK(WAIT_UNTIL(*(volatile uint64_t *)&o.frames >= 4000, HANG_BOUND_S));
	link_drive(&l, 0, (struct link_target){LINK_QUIET, 0, 64, 1}, NULL, 0);
	test_nap(0.05);
	o.stop = true;
	pthread_join(th, NULL);
	printf("    %llu frames, %llu gaps, %llu late\n", (unsigned long long)o.frames,
	       (unsigned long long)o.gaps, (unsigned long long)o.late);
	CHECK(o.frames >= 4000);
	CHECK(o.gaps == 0 && o.late == 0);
	o.be->ops->destroy(o.be);
	close(o.efd);
	link_close(&l);
}

static void *sleeper(void *arg)
{
	while (!*(volatile bool *)arg)
		usleep(1000);
	return NULL;
}

static int cpus_of(pthread_t t, cpu_set_t *set)
{
	CPU_ZERO(set);
	return pthread_getaffinity_np(t, sizeof(*set), set);
}

/* While the peer drives, its driver thread has the last CPU to itself and the VM's threads the
 * others (link.h); quiet, both have every CPU they started with. */
TEST(a_driving_peer_gets_a_cpu_of_its_own_and_gives_it_back)
{
	static struct link l;
	const char *why;
	cpu_set_t all, s;
	static bool stop;
	pthread_t vm;

	need_tap();
	REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	if (CPU_COUNT(&all) < 2)
		SKIP("this process may use one CPU, so the peer has none of its own to take");
	if (link_open(&l, &why)) {
		test_fail(__FILE__, __LINE__, "link_open: %s (%s)", why, strerror(errno));
		return;
	}
	stop = false;
	REQUIRE(pthread_create(&vm, NULL, sleeper, &stop) == 0);
	link_drive(&l, 0, (struct link_target){LINK_FLOOD, 1000, 64, 1}, &vm, 1);
	CHECK(l.peer_cpu >= 0 && CPU_ISSET(l.peer_cpu, &all));
	CHECK(cpus_of(l.driver, &s) == 0 && CPU_COUNT(&s) == 1 && CPU_ISSET(l.peer_cpu, &s));
	CHECK(cpus_of(vm, &s) == 0 && CPU_COUNT(&s) == CPU_COUNT(&all) - 1 &&
	      !CPU_ISSET(l.peer_cpu, &s));
	link_drive(&l, 0, (struct link_target){LINK_QUIET, 0, 64, 1}, &vm, 1);
	CHECK(cpus_of(l.driver, &s) == 0 && CPU_EQUAL(&s, &all));
	CHECK(cpus_of(vm, &s) == 0 && CPU_EQUAL(&s, &all));
	stop = true;
	pthread_join(vm, NULL);
	link_close(&l);
}
