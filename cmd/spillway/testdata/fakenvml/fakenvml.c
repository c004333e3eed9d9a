/*
 * A stand-in libnvidia-ml.so.1 for the agent's tests on machines without a
 * GPU: nvmlInit_v2 answers NVML_ERROR_DRIVER_NOT_LOADED, as the real library
 * does at boot before the driver has loaded, until the file named by
 * $FAKE_NVML_READY exists; the node then has no GPU. go-nvml resolves only
 * the functions it calls.
 */
#include <stdlib.h>
#include <unistd.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_DRIVER_NOT_LOADED 9

int nvmlInit_v2(void) {
	const char *ready = getenv("FAKE_NVML_READY");
	if (ready != NULL && access(ready, F_OK) == 0) {
		return NVML_SUCCESS;
	}
	return NVML_ERROR_DRIVER_NOT_LOADED;
}

int nvmlInit(void) { return nvmlInit_v2(); }

int nvmlShutdown(void) { return NVML_SUCCESS; }

int nvmlDeviceGetCount_v2(unsigned int *count) {
	*count = 0;
	return NVML_SUCCESS;
}

const char *nvmlErrorString(int ret) {
	switch (ret) {
	case NVML_SUCCESS:
		return "Success";
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "Driver Not Loaded";
	}
	return "Unknown Error";
}
