/* cpuid_avx2.c — LD_PRELOAD shim: CPUID answers as an AVX2-only Zen 3 would (no AVX-512, VNNI, BF16, GFNI).
 *
 * For engines that read CPUID themselves and have no switch (ONNX Runtime's MLAS). Linux's
 * arch_prctl(ARCH_SET_CPUID, 0) makes CPUID fault in user space (CPUs with the cpuid_fault flag); the
 * SIGSEGV handler runs the real CPUID, clears the feature bits below and steps over the instruction.
 * Invariants: the flag (TIF_NOCPUID) is per thread, copied to threads and processes cloned later, reset by
 * execve (a child is covered only if LD_PRELOAD carries the shim into it); libraries that ran CPUID before
 * this constructor (ld.so, glibc, libraries loaded with the executable) keep what they saw. XGETBV cannot be
 * trapped, so XCR0 still shows the ZMM / opmask state, and leaf 0xD is left alone (its save-area sizes must
 * match XCR0): code that wants AVX-512 checks the CPUID bit too, and finds it clear. Every SIGSEGV that is
 * not a CPUID goes to the handler installed before (or the default action). If CPUID faulting cannot be
 * turned on, one line goes to stderr and the process runs unmasked; cpuid_avx2_status() tells.
 * Build: cc -O2 -shared -fPIC -o cpuid_avx2.so cpuid_avx2.c
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define BIT(n) (1u << (n))

/* The bits cleared (bit numbers in the SDM's names). Leaf 7 subleaf 0, EBX: AVX512F 16, DQ 17, IFMA 21, PF 26,
 * ER 27, CD 28, BW 30, VL 31; ECX: AVX512_VBMI 1, VBMI2 6, GFNI 8 (Zen 4 has it, Zen 3 not), AVX512_VNNI 11,
 * BITALG 12, VPOPCNTDQ 14; EDX: AVX512_4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX_BF16 22, AVX512_FP16 23,
 * AMX_TILE 24, AMX_INT8 25. Subleaf 1, EAX: AVX_VNNI 4, AVX512_BF16 5, AMX_FP16 21, AVX_IFMA 23; EDX:
 * AVX_VNNI_INT8 4, AVX_NE_CONVERT 5, AVX_VNNI_INT16 10, AVX10 19. Kept: AVX2, FMA, F16C, BMI1/2, and VAES and
 * VPCLMULQDQ (Zen 3 has both, on ymm). */
#define L7_EBX (BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
#define L7_ECX (BIT(1) | BIT(6) | BIT(8) | BIT(11) | BIT(12) | BIT(14))
#define L7_EDX (BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25))
#define L71_EAX (BIT(4) | BIT(5) | BIT(21) | BIT(23))
#define L71_EDX (BIT(4) | BIT(5) | BIT(10) | BIT(19))

static struct sigaction prev;   /* the SIGSEGV disposition before ours */
static int status = 1;          /* 0 active; -errno: arch_prctl failed; 1 before the constructor */
static long trapped;            /* CPUIDs answered (atomic) */

static long set_cpuid(int on) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, on); }

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    /* a CPUID fault is a #GP (SI_KERNEL) at a mapped RIP; page faults (SEGV_MAPERR/ACCERR) are never read */
    if (si->si_code == SI_KERNEL && ip[0] == 0x0f && ip[1] == 0xa2) {
        int saved = errno;
        uint32_t a = (uint32_t)r[REG_RAX], c = (uint32_t)r[REG_RCX], b, d;
        set_cpuid(1);
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        set_cpuid(0);
        uint32_t leaf = (uint32_t)r[REG_RAX], sub = (uint32_t)r[REG_RCX];
        if (leaf == 7 && sub == 0) {
            b &= ~L7_EBX;
            c &= ~L7_ECX;
            d &= ~L7_EDX;
        } else if (leaf == 7 && sub == 1) {
            a &= ~L71_EAX;
            d &= ~L71_EDX;
        }
        r[REG_RAX] = a; /* CPUID zero-extends into the 64-bit registers */
        r[REG_RBX] = b;
        r[REG_RCX] = c;
        r[REG_RDX] = d;
        r[REG_RIP] += 2;
        __atomic_fetch_add(&trapped, 1, __ATOMIC_RELAXED);
        errno = saved;
        return;
    }
    if (prev.sa_flags & SA_SIGINFO) {
        prev.sa_sigaction(sig, si, ctx);
    } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
        prev.sa_handler(sig);
    } else { /* back to the default: the faulting instruction runs again and takes it */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigaction(SIGSEGV, &dfl, NULL);
    }
}

__attribute__((constructor)) static void cpuid_avx2_init(void)
{
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &prev) != 0 || set_cpuid(0) != 0) {
        status = -errno;
        sigaction(SIGSEGV, &prev, NULL);
        fprintf(stderr, "cpuid_avx2: CPUID faulting unavailable (arch_prctl(ARCH_SET_CPUID, 0): %s); "
                        "CPUID NOT masked, AVX-512 stays visible\n", strerror(-status));
        return;
    }
    status = 0;
}

/* 0 when CPUID is masked in this process and the SIGSEGV handler is still ours; 1 when another handler
 * replaced it since (CPUIDs would then crash or go unmasked); -errno when arch_prctl failed. */
int cpuid_avx2_status(void)
{
    struct sigaction cur;
    if (status != 0)
        return status;
    return sigaction(SIGSEGV, NULL, &cur) == 0 && cur.sa_sigaction == on_segv ? 0 : 1;
}

/* How many CPUIDs the shim has answered in this process. */
long cpuid_avx2_trapped(void) { return __atomic_load_n(&trapped, __ATOMIC_RELAXED); }
