/* chip_table: memory bandwidth of known processors and GPUs, from the chip name a node
 * reports. The coordinator's scoring gives large models to fast machines by this figure. */
#ifndef HERD_CHIP_TABLE_H
#define HERD_CHIP_TABLE_H

/* Memory bandwidth in GB/s for a chip description ("Apple M3 Ultra", "AMD Ryzen 9 7950X +
 * NVIDIA GeForce RTX 4090"), or 0 when unknown. Apple chips match by exact name, GPUs by a
 * name inside the description (the GPU wins over the CPU: that is where the model runs). */
double chip_bandwidth_gbps(const char *chip);

#endif
