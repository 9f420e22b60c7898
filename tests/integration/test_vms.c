/* Several VMs on one link (--vms): each its own KVM VM, vCPU thread, memory, MAC and IP, all on
 * the one TAP, through the VMM's software switch, or on vf each with its VF of the host's SR-IOV
 * card (VF to VF through the card's own switch). Each reaches the peer, they reach each other
 * without the link seeing it, the peer's and the guests' counts agree per VM, and one VM's hang
 * stops none of the others. Each scenario drives a known amount of work, never a time. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "tests/integration/need.h"
#include "vmm/net/net.h"
#include "vmm/nic.h"
#include "vmm/vmm.h"
#include "vmm/vsnic/vsnic.h"

#define VMS    3
#define PINGS  200
#define FRAMES 3000

/* VM i on net (and its VF of card, on vf); peer: where its ping and tx go (0: the link's peer).
 */
static struct vmm *boot(struct net *net, struct vsnic *card, enum nic_mode mode, unsigned i,
			uint32_t peer)
{
	struct vmm_opts o = {
	    .nic = mode, .cpu = test_cpu(), .net = net, .index = i, .peer_ip = peer, .sriov = card};
	struct vmm *vm;
	const char *why;
	if (vmm_create(&vm, &o, &why)) {
		test_fail(__FILE__, __LINE__, "vmm_create (VM%u): %s", i + 1, why);
		return NULL;
	}
	vmm_start(vm);
	if (!WAIT_UNTIL(guest_ctl(vm)->nic_state == NIC_UP, HANG_BOUND_S))
		test_fail(__FILE__, __LINE__, "VM%u's guest brought no card up", i + 1);
	return vm;
}

/* Frames from one VM to another: the VMM's switch's, or on vf the card's (its VEB). */
static uint64_t switched(struct net *net, struct vsnic *card)
{
	if (!card)
		return net->be->st.switched;
	struct nic_readout ro = {0};
	vsnic_read_vf(card, 0, &ro);
	for (unsigned i = 0; i < ro.nr_extra; i++)
		if (!strcmp(ro.extra[i].name, "veb_frames"))
			return ro.extra[i].value;
	return 0;
}

static void vms_on_one_link(enum nic_mode mode)
{
	need_kvm();
	need_tap();
	struct net *net;
	const char *why;
	REQUIRE(net_open(&net, &why) == 0);
	if (!net->have_link) {
		net_close(net);
		SKIP("no TAP link: %s", net->why ? net->why : "?");
	}
	struct vmm *vm[VMS] = {0};
	/* On vf the host owns the card: a VF for each VM, VF to VF inside the card. */
	struct vsnic *card = NULL;
	if (mode == NIC_MODE_VF)
		REQUIRE(vsnic_host_open(&card, net, VMS) == 0);
	/* VM1 and VM3 talk to the peer, VM2 to VM1. */
	for (unsigned i = 0; i < VMS; i++)
		vm[i] = boot(net, card, mode, i, i == 1 ? net_guest_ip(0) : 0);
	for (unsigned i = 0; i < VMS; i++)
		if (!vm[i])
			goto out;
	for (unsigned i = 0; i < VMS; i++) {
		struct ctl_page *c = guest_ctl(vm[i]);
		uint8_t mac[6];
		net_guest_mac(i, mac);
		CHECK(c->guest_ip == net_guest_ip(i));
		CHECK(!memcmp(c->mac, mac, 6));
	}

	/* VM3 resolves the peer first (its ARP request is a frame it sent, not a datagram). */
	vmm_set_workload(vm[2], WL_PING, 0, 0);
	CHECK(WAIT_UNTIL(guest_ctl(vm[2])->ping.ops > 0, HANG_BOUND_S));
	guest_settle(vm[2]);

	/* All at once: VM1 pings the peer, VM2 pings VM1, VM3 floods the peer's sink. */
	struct ctl_page c0 = *guest_ctl(vm[0]);
	uint64_t switched0 = switched(net, card);
	struct link_counters lc0, lc;
	struct nic_readout ro;
	vmm_read_net(vm[2], &ro, &lc0);
	uint64_t tx0 = guest_sent_ipv4(guest_ctl(vm[2]));
	vmm_set_workload(vm[0], WL_PING, 0, 0);
	vmm_set_workload(vm[1], WL_PING, 0, 0);
	vmm_set_workload(vm[2], WL_TX, 0, 20000);
	CHECK(WAIT_UNTIL(guest_ctl(vm[0])->ping.ops - c0.ping.ops >= PINGS, HANG_BOUND_S));
	CHECK(WAIT_UNTIL(guest_ctl(vm[1])->ping.ops >= PINGS, HANG_BOUND_S));
	CHECK(WAIT_UNTIL(guest_sent_ipv4(guest_ctl(vm[2])) - tx0 >= FRAMES, HANG_BOUND_S));
	for (unsigned i = 0; i < VMS; i++)
		guest_settle(vm[i]);

	struct ctl_page v1 = *guest_ctl(vm[0]), v2 = *guest_ctl(vm[1]), v3 = *guest_ctl(vm[2]);
	uint64_t sent = guest_sent_ipv4(&v3) - tx0;
	WAIT_UNTIL((vmm_read_net(vm[2], &ro, &lc), lc.sink_rx - lc0.sink_rx >= sent), HANG_BOUND_S);
	printf("    VM1 pinged the peer %llu times, VM2 pinged VM1 %llu times (VM1 answered "
	       "%llu), VM3 sent %llu datagrams, the peer's sink got %llu; %llu frames switched "
	       "between VMs\n",
	       (unsigned long long)(v1.ping.ops - c0.ping.ops), (unsigned long long)v2.ping.ops,
	       (unsigned long long)(v1.icmp_replies - c0.icmp_replies), (unsigned long long)sent,
	       (unsigned long long)(lc.sink_rx - lc0.sink_rx),
	       (unsigned long long)(switched(net, card) - switched0));
	CHECK(v1.ping_lost == c0.ping_lost &&
	      v1.ping.ops - c0.ping.ops == v1.ping_sent - c0.ping_sent);
	CHECK(v2.ping_lost == 0 && v2.ping.ops == v2.ping_sent);
	/* Every echo VM2 had answered, VM1 answered: through the switch (the card's, on vf),
	 * none on the link. */
	CHECK(v1.icmp_replies - c0.icmp_replies == v2.ping.ops);
	CHECK(switched(net, card) - switched0 >= 2 * v2.ping.ops);
	/* The sink heard VM3's datagrams, each once, and only them (nobody else sent UDP to 9). */
	CHECK(lc.sink_rx - lc0.sink_rx == sent);
	CHECK(ro.total.tx_packets >= sent);
	CHECK(v1.net_rx_bad == 0 && v2.net_rx_bad == 0 && v3.net_rx_bad == 0);

	/* VM2 hangs: the others go on. */
	vmm_set_workload(vm[1], WL_FAULT, FAULT_HANG, 0);
	struct vmm_status st, hung;
	CHECK(WAIT_UNTIL((vmm_status(vm[1], &hung), hung.state == VMM_FAILED), HANG_BOUND_S));
	uint64_t from = guest_ctl(vm[0])->ping.ops, from3 = guest_ctl(vm[2])->ping.ops;
	vmm_set_workload(vm[0], WL_PING, 0, 0);
	vmm_set_workload(vm[2], WL_PING, 0, 0);
	CHECK(WAIT_UNTIL(guest_ctl(vm[0])->ping.ops - from >= PINGS, HANG_BOUND_S));
	CHECK(WAIT_UNTIL(guest_ctl(vm[2])->ping.ops - from3 >= PINGS, HANG_BOUND_S));
	vmm_status(vm[0], &st);
	CHECK(st.state == VMM_RUNNING);
	printf("    VM2: %s; VM1 and VM3 pinged %u more times each\n", hung.reason, PINGS);
out:
	for (unsigned i = 0; i < VMS; i++)
		if (vm[i])
			vmm_destroy(vm[i]);
	vsnic_host_close(card);
	net_close(net);
}

TEST(vms_share_the_link_virtio)
{
	vms_on_one_link(NIC_MODE_VIRTIO);
}

TEST(vms_share_the_link_emulated)
{
	vms_on_one_link(NIC_MODE_EMULATED);
}

TEST(vms_share_the_link_vf)
{
	vms_on_one_link(NIC_MODE_VF);
}
