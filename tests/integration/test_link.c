/* The host-side link: a real namespace, TAP and peer, spoken to with frames that the guest's own
 * network stack builds and parses. No VM here: this isolates the link from the NIC models. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/integration/need.h"
#include "vmm/shared/netstack.h"
#include "vmm/net/link.h"

/* Sends a frame into the namespace and waits for a frame back that the stack accepts. */
static enum net_rx_kind exchange(struct link *l, struct net_if *nif, const uint8_t *frame,
				 size_t len, struct net_rx *rx, uint8_t *reply)
{
	static uint8_t in[2048];
	CHECK(write(l->tap_fd, frame, len) == (ssize_t)len);
	for (int tries = 0; tries < 50; tries++) {
		struct pollfd p = {l->tap_fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(l->tap_fd, in, sizeof(in));
		if (n <= 0)
			continue;
		enum net_rx_kind k = net_receive(nif, in, (size_t)n, reply, 2048, rx);
		if (k != NET_RX_DROP)
			return k;
	}
	return NET_RX_DROP;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

TEST(link_namespace_kernel_and_peer_answer_the_guest_stack)
{
	static struct link l;
	static uint8_t frame[2048], reply[2048];
	struct net_if nif = {.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, .ip = LINK_GUEST_IP};
	struct net_rx rx;
	struct link_counters c;
	const char *why;
	char payload[64] = "vmscope seq 1";

	need_tap();
	if (link_open(&l, &why)) {
		test_fail(__FILE__, __LINE__, "link_open: %s (%s)", why, strerror(errno));
		return;
	}
	CHECK(exists(l.netns_path));
	CHECK(!exists("/sys/class/net/" LINK_TAP)); /* the host's own network has no such link */

	/* ARP: the namespace's kernel tells us its MAC. */
	size_t n = net_arp_request(&nif, frame, sizeof(frame), LINK_PEER_IP);
	CHECK(exchange(&l, &nif, frame, n, &rx, reply) == NET_RX_HANDLED);
	CHECK(nif.peer_known && !memcmp(nif.peer_mac, l.peer_mac, 6));

	/* ICMP echo: the namespace's kernel answers with our id, seq and payload. */
	n = net_icmp_echo(&nif, frame, sizeof(frame), LINK_PEER_IP, 0x77, 3, payload, 32);
	CHECK(exchange(&l, &nif, frame, n, &rx, reply) == NET_RX_ICMP_REPLY);
	CHECK(rx.icmp_id == 0x77 && rx.icmp_seq == 3 && rx.payload_len == 32 &&
	      !memcmp(rx.payload, payload, 32));

	/* UDP echo: the peer sends the datagram back. */
	n = net_udp(&nif, frame, sizeof(frame), LINK_PEER_IP, 40000, LINK_PORT_ECHO, payload, 20);
	CHECK(exchange(&l, &nif, frame, n, &rx, reply) == NET_RX_UDP);
	CHECK(rx.src_port == LINK_PORT_ECHO && rx.dst_port == 40000 && rx.payload_len == 20 &&
	      !memcmp(rx.payload, payload, 20));

	/* UDP sink: counted, nothing comes back. */
	for (int i = 0; i < 5; i++) {
		n = net_udp(&nif, frame, sizeof(frame), LINK_PEER_IP, 40001, LINK_PORT_SINK,
			    payload, 64);
		CHECK(write(l.tap_fd, frame, n) == (ssize_t)n);
	}
	WAIT_UNTIL((link_read_counters(&l, &c), c.sink_rx >= 5), HANG_BOUND_S);
	CHECK(c.echo_rx == 1 && c.echo_tx == 1 && c.sink_rx == 5 && c.sink_rx_bytes == 5 * 64);
	CHECK(nif.rx_bad == 0);

	link_close(&l);
	CHECK(!exists(l.netns_path[0] ? l.netns_path : "/run/netns/vmscope-none"));
	char path[64];
	snprintf(path, sizeof(path), LINK_NETNS_DIR "/" LINK_NETNS_PREFIX "%d", (int)getpid());
	CHECK(!exists(path));
}

TEST(link_left_by_a_killed_run_is_removed_at_the_next_start)
{
	int ready[2];
	char path[64], c;
	need_tap();
	REQUIRE(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		static struct link l;
		const char *why;
		close(ready[0]);
		if (link_open(&l, &why) == 0 && write(ready[1], "r", 1) == 1)
			pause();
		_exit(1);
	}
	close(ready[1]);
	REQUIRE(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	snprintf(path, sizeof(path), LINK_NETNS_DIR "/" LINK_NETNS_PREFIX "%d", (int)pid);
	CHECK(exists(path));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(exists(path)); /* SIGKILL left it behind */

	static struct link l;
	const char *why;
	if (link_open(&l, &why)) {
		test_fail(__FILE__, __LINE__, "link_open: %s (%s)", why, strerror(errno));
		return;
	} /* a new start reaps it */
	CHECK(!exists(path));
	link_close(&l);
}

TEST(link_needs_root_and_says_so)
{
	if (geteuid() == 0) {
		/* Drop to an unprivileged user in a child and check the sentence there. */
		int p[2];
		char msg[128] = {0};
		REQUIRE(pipe(p) == 0);
		pid_t pid = fork();
		if (pid == 0) {
			static struct link l;
			const char *why = "";
			close(p[0]);
			if (setgid(65534) || setuid(65534))
				_exit(2);
			int r = link_open(&l, &why);
			if (write(p[1], why, strlen(why)) < 0)
				_exit(3);
			_exit(r == -EPERM ? 0 : 1);
		}
		close(p[1]);
		CHECK(read(p[0], msg, sizeof(msg) - 1) > 0);
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK(strstr(msg, "needs root") != NULL);
	} else {
		static struct link l;
		const char *why = "";
		CHECK(link_open(&l, &why) == -EPERM && strstr(why, "needs root"));
	}
}
