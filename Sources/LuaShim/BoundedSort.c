/* table.sort with a bounded cost, written for Impulse.

   LuaJIT's table.sort is Lua 5.1's quicksort: a crafted array of 40,000 numbers takes it about
   5 s and a million about an hour, all inside one C call the watchdog's count hook never sees
   (with the default comparison no Lua code runs). This one is an introsort — quicksort with a
   median-of-three pivot that turns to heapsort once the recursion is deeper than twice the
   logarithm of the length — so it is O(n log n) on every input, and every comparison is charged
   to the watchdog. Semantics follow the Lua 5.1 manual (§5.5, table.sort): elements 1 to #t
   are sorted in place with `<` or the given function, raw reads and writes, not stable; an
   order function that is not a strict order either leaves the elements in some order or raises
   "invalid order function for sorting", never reads outside 1 … #t. */

#include <lua.h>
#include <lauxlib.h>
#include "ShimInternal.h"

enum {
    SMALL_RANGE = 12,           /* ranges this short are sorted by insertion */
    CHARGE_EVERY = 1024,        /* comparisons gathered before one charge to the watchdog */
};

typedef struct {
    lua_State *L;
    int has_order_function;     /* argument 2 is the order function */
    long unpaid;
} sort_run;

static void spend(sort_run *run) {
    if (++run->unpaid >= CHARGE_EVERY) {
        long steps_due = run->unpaid;
        run->unpaid = 0;
        impulse_lua_charge_work(run->L, steps_due);
    }
}

/* Whether the value at stack index `a` sorts before the one at `b` (both absolute indices). */
static int precedes(sort_run *run, int a, int b) {
    lua_State *L = run->L;
    spend(run);
    if (!run->has_order_function) return lua_lessthan(L, a, b);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, a);
    lua_pushvalue(L, b);
    lua_call(L, 2, 1);
    int result = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return result;
}

/* Whether t[i] sorts before t[j]. */
static int element_precedes(sort_run *run, int i, int j) {
    lua_State *L = run->L;
    lua_rawgeti(L, 1, i);
    lua_rawgeti(L, 1, j);
    int top = lua_gettop(L);
    int result = precedes(run, top - 1, top);
    lua_pop(L, 2);
    return result;
}

static void swap_elements(lua_State *L, int i, int j) {
    lua_rawgeti(L, 1, i);
    lua_rawgeti(L, 1, j);
    lua_rawseti(L, 1, i);
    lua_rawseti(L, 1, j);
}

static void insertion_sort(sort_run *run, int low, int high) {
    lua_State *L = run->L;
    for (int i = low + 1; i <= high; i++) {
        lua_rawgeti(L, 1, i);           /* the value to place */
        int value = lua_gettop(L);
        int j = i - 1;
        for (; j >= low; j--) {
            lua_rawgeti(L, 1, j);
            int moves = precedes(run, value, value + 1);
            if (!moves) {
                lua_pop(L, 1);
                break;
            }
            lua_rawseti(L, 1, j + 1);
        }
        lua_rawseti(L, 1, j + 1);
    }
}

/* Heap order over t[low … high]: moves t[low + root] down to its place. */
static void sift_down(sort_run *run, int low, int root, int count) {
    for (;;) {
        int child = 2 * root + 1;
        if (child >= count) return;
        if (child + 1 < count && element_precedes(run, low + child, low + child + 1)) child++;
        if (!element_precedes(run, low + root, low + child)) return;
        swap_elements(run->L, low + root, low + child);
        root = child;
    }
}

static void heap_sort(sort_run *run, int low, int high) {
    int count = high - low + 1;
    for (int root = count / 2 - 1; root >= 0; root--) sift_down(run, low, root, count);
    for (int last = count - 1; last > 0; last--) {
        swap_elements(run->L, low, low + last);
        sift_down(run, low, 0, last);
    }
}

static void invalid_order(lua_State *L) {
    luaL_error(L, "invalid order function for sorting");
}

/* Partitions t[low … high] (longer than SMALL_RANGE) around a median of three; returns the
   pivot's final index. */
static int partition(sort_run *run, int low, int high) {
    lua_State *L = run->L;
    int middle = low + (high - low) / 2;
    if (element_precedes(run, middle, low)) swap_elements(L, middle, low);
    if (element_precedes(run, high, middle)) {
        swap_elements(L, high, middle);
        if (element_precedes(run, middle, low)) swap_elements(L, middle, low);
    }
    /* t[low] <= pivot <= t[high]; the pivot waits at high - 1 while the rest is split. */
    swap_elements(L, middle, high - 1);
    lua_rawgeti(L, 1, high - 1);
    int pivot = lua_gettop(L);
    int i = low, j = high - 1;
    for (;;) {
        for (;;) {
            if (++i >= high) invalid_order(L);
            lua_rawgeti(L, 1, i);
            int before = precedes(run, pivot + 1, pivot);
            lua_pop(L, 1);
            if (!before) break;
        }
        for (;;) {
            if (--j < low) invalid_order(L);
            lua_rawgeti(L, 1, j);
            int after = precedes(run, pivot, pivot + 1);
            lua_pop(L, 1);
            if (!after) break;
        }
        if (j < i) break;
        swap_elements(L, i, j);
    }
    lua_pop(L, 1);
    swap_elements(L, i, high - 1);
    return i;
}

static void sort_range(sort_run *run, int low, int high, int depth_left) {
    while (high - low >= SMALL_RANGE) {
        if (depth_left-- == 0) {
            heap_sort(run, low, high);
            return;
        }
        int pivot = partition(run, low, high);
        /* Recurse into the shorter side, loop on the longer: the C stack stays logarithmic. */
        if (pivot - low < high - pivot) {
            sort_range(run, low, pivot - 1, depth_left);
            low = pivot + 1;
        } else {
            sort_range(run, pivot + 1, high, depth_left);
            high = pivot - 1;
        }
    }
    insertion_sort(run, low, high);
}

static int bounded_sort(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int count = (int)lua_objlen(L, 1);
    int has_order_function = !lua_isnoneornil(L, 2);
    if (has_order_function) luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    luaL_checkstack(L, 16, "table too big to sort");
    sort_run run = { L, has_order_function, 0 };
    int depth = 0;
    for (int length = count; length > 1; length >>= 1) depth += 2;
    if (count > 1) sort_range(&run, 1, count, depth);
    if (run.unpaid > 0) impulse_lua_charge_work(L, run.unpaid);
    return 0;
}

void impulse_lua_register_bounded_sort(lua_State *L) {
    lua_pushcfunction(L, bounded_sort);
    lua_setfield(L, -2, "sort");
}
