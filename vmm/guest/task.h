/* One background task beside the guest's main loop, run in slices: the probe of a hot-added
 * card, and letting the old card go once the traffic has moved. A probe is a few hundred register
 * accesses and every one traps (the e1000's 64 EEPROM reads alone are 3-6 ms on kvm_pvm); run in
 * one go, the workload would stop for all of it and that stop would be the switch's blackout. Run
 * here, it takes turns with the workload: the main loop gives it one slice per turn (task_step) and
 * it gives the CPU back at the first yield point past the slice (task_point), as a cooperative
 * thread does. The code it runs needs no change: the guest's register and config accessors are the
 * yield points.
 *
 * Interrupts stay off in the task (the guest opens them only where it sleeps, and it does not
 * sleep while a task is live), so no handler runs on its stack. */
#ifndef VMSCOPE_GUEST_TASK_H
#define VMSCOPE_GUEST_TASK_H
#include "../control.h"

/* Starts fn(arg) as the task, to run slice TSC cycles per turn; -1 if one is already live. */
int task_start(void (*fn)(void *arg), void *arg, u64 slice);
/* The main loop's turn to the task: runs it until its slice is used or fn returned. 1 while it
 * has more to do, 0 when it finished in this turn; -1 when there is no task. */
int task_step(void);
/* A task was started and has not finished. */
int task_live(void);

extern int task_inside; /* the CPU is on the task's stack */
void task_yield_due(void);
/* A yield point: in the task, past its slice, back to the main loop; elsewhere nothing. */
static inline void task_point(void)
{
	if (__builtin_expect(task_inside, 0))
		task_yield_due();
}

/* A device register, as an lvalue: an access that traps, so a yield point. */
#define REG(type, addr) (*(task_point(), (volatile type *)(addr)))

/* A stretch with no yield point: what the task does there on the main loop's card (a reply to a
 * frame it drained) cannot be cut in half by the loop's own use of that card. */
static inline int task_hold(void)
{
	int was = task_inside;
	task_inside = 0;
	return was;
}
static inline void task_unhold(int was)
{
	task_inside = was;
}

#endif
