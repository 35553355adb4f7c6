import { MemoryStore } from '../../controller/store/memory-store.js';
import type { Store } from '../../controller/store/store.js';
import { storeContract } from './store-contract.js';

const contract = storeContract('MemoryStore', {
  open: () => new MemoryStore(),
  reopen: async (s: Store) => (s as MemoryStore).reopen(),
});

contract.run();
