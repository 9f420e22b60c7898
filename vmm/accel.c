/* The count of ioeventfds bound through vmm/accel.h, over every VM of the process. */
#include "vmm/accel.h"

static int bound;

int accel_ioeventfds_bound(void)
{
	return __atomic_load_n(&bound, __ATOMIC_RELAXED);
}

void accel_ioeventfds_count(int delta)
{
	__atomic_add_fetch(&bound, delta, __ATOMIC_RELAXED);
}
