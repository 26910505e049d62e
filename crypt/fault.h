/* Fault injection for crash tests (SQLite's test hooks do the same).
 *
 * Built with LAMINA_FAULT_INJECTION (test builds only: the lamina_fault
 * binary), every lm_fault_point() call counts; when the count reaches the
 * number in the environment variable LAMINA_FAULT, the process ends there
 * with _exit(99), as a crash would, without flushing or cleaning up. Without
 * the define a fault point compiles to nothing.
 */
#ifndef LM_FAULT_H
#define LM_FAULT_H

#ifdef LAMINA_FAULT_INJECTION
/* @where names the step, printed on stderr when the fault fires. */
void lm_fault_point(const char *where);
#else
static inline void lm_fault_point(const char *where)
{
	(void)where;
}
#endif

#endif
