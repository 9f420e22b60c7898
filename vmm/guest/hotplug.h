/* The guest's PCIe native hot-plug driver, what Linux's pciehp does in small: it finds the root
 * ports whose slots are hot-plug capable, enables their events (presence detect changed, data
 * link layer state changed) and their MSI, and on an event reads Slot Status, clears the events
 * it read (write 1 to clear) and says whether a card arrived or left. Binding or quiescing the
 * driver is the caller's (main.c: make before break). */
#ifndef VMSCOPE_GUEST_HOTPLUG_H
#define VMSCOPE_GUEST_HOTPLUG_H
#include "../control.h"

#define HP_PORTS 4

/* Finds the ports; with want_irq their MSI sends VEC_HOTPLUG (it ends a sleep); busy, the
 * slots are read every 20 ms (hp_pending). Returns how many. */
int hp_init(int want_irq, u64 tsc_khz);
/* The MSI came (from the interrupt handler). */
void hp_irq(void);
/* Something to look at: an MSI came, or it is time to read the slots again. */
int hp_pending(u64 now);
/* An MSI came (does not count as a read of the slots). */
int hp_irq_pending(void);
/* Reads and clears every slot's events; calls fn for each slot that had some, with the bdf of
 * the function in it (device 0 on the port's secondary bus) and whether a card is there now. */
void hp_service(void (*fn)(u32 card_bdf, int present, void *arg), void *arg);

#endif
