// CPU kernels built for one instruction set; setup.py gives this file its flags.
#include "cpu_backend.h"
