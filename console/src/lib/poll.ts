// Live data by polling: load() now and every `ms` while the tab is visible; a hidden tab stops
// polling and a tab shown again loads at once. Answers that arrive after the component is
// gone are dropped.
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: string;
  loading: boolean;
  reload: () => Promise<void>;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[], pollMs = 0): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const alive = useRef(true);
  const gen = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = async () => {
    const my = ++gen.current;
    try {
      const d = await loadRef.current();
      if (alive.current && my === gen.current) {
        setData(d);
        setError('');
      }
    } catch (e) {
      if (alive.current && my === gen.current) setError(errorText(e));
    } finally {
      if (alive.current && my === gen.current) setLoading(false);
    }
  };

  useEffect(() => {
    alive.current = true;
    setLoading(true);
    setData(undefined);
    void reload();
    if (!pollMs) return () => (alive.current = false);
    let timer: number | undefined;
    const arm = () => {
      window.clearInterval(timer);
      timer = undefined;
      if (document.visibilityState === 'visible') timer = window.setInterval(() => void reload(), pollMs);
    };
    const onVisibility = () => {
      if (document.visibilityState === 'visible') void reload();
      arm();
    };
    arm();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      alive.current = false;
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error, loading, reload };
}
