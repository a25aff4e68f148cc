/*
 * leasehold's lock protocol in Promela, restricted to what the SPIN-comparable presets of
 * `leasehold-check` model (`baseline`, `large`): clients acquire (one conditional write), release
 * with their token, or crash; a clock ticks up to HORIZON; leases last TTL ticks; one resource.
 * Property: mutual exclusion among the leases clients believe valid.
 *
 * One process plays the whole system. Each alternative of its loop is one indivisible step (a
 * d_step), as each action of the stateright model is one step, so both tools explore the same
 * state space. The stored row keeps what the model's abstraction keeps: holder, token, and either
 * the expiry of a live lease or, once released, only the fact that it ended.
 *
 *   spin -a -DCLIENTS=4 -DHORIZON=6 -DATTEMPTS=3 lease.pml
 *   gcc -O2 -DSAFETY -DNOREDUCE -o pan pan.c && ./pan -m1000000
 *
 * PLANTED=1 replaces the acquire with the seed report's check-then-act (the client reads and
 * decides in one step, writes unconditionally in another): the assertion must then fail.
 */

#ifndef CLIENTS
#define CLIENTS 3
#endif
#ifndef HORIZON
#define HORIZON 4
#endif
#ifndef ATTEMPTS
#define ATTEMPTS 2
#endif
#ifndef TTL
#define TTL 2
#endif
#ifndef PLANTED
#define PLANTED 0
#endif

#define NOBODY 255

/* The store's row. */
byte clock = 0;
byte holder = NOBODY;
byte token = 0;
byte ends = 0;
bool ended = 0;

/* What each client believes. */
bool holding[CLIENTS];
bool decided[CLIENTS];
byte my_token[CLIENTS];
byte my_end[CLIENTS];
byte tries[CLIENTS];

#define FREE (holder == NOBODY || ended || ends <= clock)

/* Mutual exclusion, checked right after each grant: the only step that adds a valid lease. The
 * counters are process-local in Promela, so they are reset to keep them out of the state. */
#define EXCLUSIVE { \
    byte k = 0, n = 0; \
    do \
    :: k < CLIENTS -> if :: holding[k] && my_end[k] > clock -> n++ :: else fi; k++ \
    :: else -> break \
    od; \
    assert(n <= 1); \
    k = 0; n = 0 }

#define GRANT(i) \
    holder = i; token++; ends = clock + TTL; ended = 0; \
    holding[i] = 1; my_token[i] = token; my_end[i] = ends; \
    EXCLUSIVE

#define FORGET(i) holding[i] = 0; my_token[i] = 0; my_end[i] = 0

#if PLANTED
#define ACQUIRE(i) \
    :: d_step { !holding[i] && !decided[i] && tries[i] < ATTEMPTS -> \
         tries[i]++; if :: FREE -> decided[i] = 1 :: else fi } \
    :: d_step { decided[i] -> decided[i] = 0; GRANT(i) }
#else
#define ACQUIRE(i) \
    :: d_step { !holding[i] && tries[i] < ATTEMPTS -> \
         tries[i]++; if :: FREE -> GRANT(i) :: else fi }
#endif

/* Release ends the row's lease only if the token matches; either way the client forgets. */
#define CLIENT(i) \
    ACQUIRE(i) \
    :: d_step { holding[i] -> \
         if :: token == my_token[i] -> ended = 1; ends = 0 :: else fi; FORGET(i) } \
    :: d_step { holding[i] -> FORGET(i) }

active proctype system() {
end:
    do
    :: d_step { clock < HORIZON -> clock++ }
    CLIENT(0)
#if CLIENTS > 1
    CLIENT(1)
#endif
#if CLIENTS > 2
    CLIENT(2)
#endif
#if CLIENTS > 3
    CLIENT(3)
#endif
#if CLIENTS > 4
    CLIENT(4)
#endif
#if CLIENTS > 5
    CLIENT(5)
#endif
    od
}
