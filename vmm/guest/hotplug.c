/* PCIe native hot-plug (PCIe Base 6.7.3, 7.5.3.9-11), the guest's side. */
#define VMSCOPE_GUEST
#include "hotplug.h"
#include "pci.h"

#define CAP_EXP	      0x10
#define EXP_FLAGS     0x02
#define EXP_SLTCAP    0x14
#define EXP_SLTCTL    0x18
#define EXP_SLTSTA    0x1a
#define SLTCAP_HPC    0x40
#define SLTCTL_PDCE   0x0008
#define SLTCTL_HPIE   0x0020
#define SLTCTL_DLLSCE 0x1000
#define SLTSTA_PDC    0x0008
#define SLTSTA_PDS    0x0040
#define SLTSTA_DLLSC  0x0100
#define SLTSTA_EVENTS 0x011f /* every write-1-to-clear event bit */
#define CAP_MSI	      0x05
/* How often the slots are read while the guest is busy: it runs with interrupts off outside
 * its sleeps (main.c), so the MSI only ends a sleep. A read is an exit per port. */
#define POLL_MS 20

static struct {
	u32 bdf, exp;
} ports[HP_PORTS];
static int nr_ports;
static volatile int irq_seen;
static u64 poll_every, next_poll;

static void find(u32 bdf, u32 id, void *arg)
{
	(void)id;
	(void)arg;
	if (nr_ports == HP_PORTS || (pci_read8(bdf, 0x0e) & 0x7f) != 1)
		return;
	u32 exp = pci_find_cap(bdf, CAP_EXP);
	/* A root (4) or downstream (6) port with a slot that is hot-plug capable. */
	u32 type = (pci_read16(bdf, exp + EXP_FLAGS) >> 4) & 0xf;
	if (!exp || (type != 4 && type != 6) || !(pci_read16(bdf, exp + EXP_FLAGS) & 0x100) ||
	    !(pci_read32(bdf, exp + EXP_SLTCAP) & SLTCAP_HPC))
		return;
	ports[nr_ports].bdf = bdf;
	ports[nr_ports].exp = exp;
	nr_ports++;
}

int hp_init(int want_irq, u64 tsc_khz)
{
	nr_ports = 0;
	pci_scan(find, 0);
	poll_every = tsc_khz * POLL_MS;
	for (int i = 0; i < nr_ports; i++) {
		u32 b = ports[i].bdf, e = ports[i].exp, msi = pci_find_cap(b, CAP_MSI);
		pci_write16(b, e + EXP_SLTSTA, SLTSTA_EVENTS); /* what firmware left: stale */
		u16 ctl = SLTCTL_PDCE | SLTCTL_DLLSCE;
		if (want_irq && msi) {
			pci_write32(b, msi + 4, (u32)GPA_LAPIC); /* APIC 0, physical */
			pci_write16(b, msi + 8, VEC_HOTPLUG);	 /* fixed, edge */
			pci_write16(b, msi + 2, 1);		 /* MSI enable, one vector */
			pci_write16(b, 0x04,
				    pci_read16(b, 0x04) | 0x4); /* bus master: it writes MSIs */
			ctl |= SLTCTL_HPIE;
		}
		pci_write16(b, e + EXP_SLTCTL, ctl);
	}
	return nr_ports;
}

void hp_irq(void)
{
	irq_seen = 1;
}

int hp_irq_pending(void)
{
	return irq_seen;
}

int hp_pending(u64 now)
{
	if (irq_seen)
		return 1;
	if (!nr_ports || now < next_poll)
		return 0;
	next_poll = now + poll_every;
	return 1;
}

void hp_service(void (*fn)(u32 card_bdf, int present, void *arg), void *arg)
{
	irq_seen = 0;
	for (int i = 0; i < nr_ports; i++) {
		u32 b = ports[i].bdf, e = ports[i].exp;
		u16 sta = pci_read16(b, e + EXP_SLTSTA);
		if (!(sta & SLTSTA_EVENTS))
			continue;
		/* Clear what we read before acting: an event after this is a new edge, a new MSI.
		 */
		pci_write16(b, e + EXP_SLTSTA, sta & SLTSTA_EVENTS);
		/* Presence as it is now: a removal and an add since the last look read as the add,
		 * and the caller knows the card it had there is gone. */
		fn(PCI_BDF(pci_read8(b, 0x19), 0), (sta & SLTSTA_PDS) != 0, arg);
	}
}
