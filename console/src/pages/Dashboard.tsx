// Dashboard: delivered, deferred, bounced, opened and clicked per hour or day (uPlot; loaded
// only when this page opens), the totals, and the bounce rate coloured against thresholds. A
// "show as table" switch gives the same numbers as a table (screen readers, copying).
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Time } from '../components/time';
import { t, type MessageKey } from '../lib/i18n';
import { api, qs } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { num, percent } from '../lib/format';
import { theme, utc } from '../lib/prefs';
import type { Stats } from '../api/types';
import { Loading, Notice, PageHeader, Section } from '../components/ui';

const SERIES = ['delivered', 'deferred', 'bounced', 'opened', 'clicked'] as const;
const RANGES = { '24h': { hours: 24, step: 'hour' }, '7d': { hours: 24 * 7, step: 'day' }, '30d': { hours: 24 * 30, step: 'day' } } as const;
type Range = keyof typeof RANGES;
// Bounce rate thresholds (mailbox providers start to throttle around 2%, act near 5%).
const WARN = 0.02;
const BAD = 0.05;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function Chart(props: { stats: Stats }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const s = props.stats;
    const xs = s.series.map((p) => Date.parse(p.t) / 1000);
    const data: uPlot.AlignedData = [xs, ...SERIES.map((k) => s.series.map((p) => p[k]))];
    const axis = { stroke: cssVar('--fg-muted'), grid: { stroke: cssVar('--border'), width: 1 }, ticks: { stroke: cssVar('--border') } };
    const plot = new uPlot(
      {
        width: Math.max(320, el.clientWidth),
        height: 280,
        tzDate: (ts) => (utc.value ? uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC') : new Date(ts * 1e3)),
        series: [{}, ...SERIES.map((k) => ({ label: t(`stats.${k}` as MessageKey), stroke: cssVar(`--chart-${k}`), width: 2, points: { show: xs.length < 40 } }))],
        axes: [axis, axis],
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(320, el.clientWidth), height: 280 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [props.stats, theme.value, utc.value]);
  return <div ref={ref} class="chart" role="img" aria-label={t('stats.chartLabel')} />;
}

export function DashboardPage() {
  const [range, setRange] = useState<Range>('24h');
  const [table, setTable] = useState(false);
  const r = RANGES[range];
  const stats = useLoad(
    () => {
      const step = r.step === 'hour' ? 3600e3 : 86400e3;
      const to = Math.ceil(Date.now() / step) * step;
      const from = to - r.hours * 3600e3;
      return api.get<Stats>(scoped('/stats' + qs({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: r.step })));
    },
    [range],
    60000,
  );
  const s = stats.data;
  const rate = s?.bounceRate ?? 0;
  const rateTone = rate >= BAD ? 'bad' : rate >= WARN ? 'warn' : 'ok';
  return (
    <>
      <PageHeader
        title={t('stats.title')}
        intro={t('stats.intro')}
        actions={
          <div class="segmented" role="group" aria-label={t('stats.range')}>
            {(Object.keys(RANGES) as Range[]).map((k) => (
              <button key={k} type="button" class="btn btn-small" aria-pressed={range === k} onClick={() => setRange(k)}>
                {t(`stats.range.${k}` as MessageKey)}
              </button>
            ))}
          </div>
        }
      />
      {stats.error && <Notice tone="warn">{t('stats.unavailable', { reason: stats.error })}</Notice>}
      {!s && !stats.error && <Loading />}
      {s && (
        <>
          <div class="tiles">
            {(['accepted', ...SERIES] as const).map((k) => (
              <div class="tile" key={k}>
                <span class="tile-label">{t(`stats.${k}` as MessageKey)}</span>
                <span class="tile-value">{num(s.totals[k])}</span>
              </div>
            ))}
            <div class={`tile tile-${rateTone}`}>
              <span class="tile-label">{t('stats.bounceRate')}</span>
              <span class="tile-value">{percent(rate)}</span>
              <span class="tile-note">{t(`stats.rate.${rateTone}` as MessageKey, { warn: percent(WARN), bad: percent(BAD) })}</span>
            </div>
          </div>
          <Section
            title={t('stats.perStep', { step: s.step === 'hour' ? t('stats.hour') : t('stats.day') })}
            actions={
              <button type="button" class="btn btn-ghost btn-small" aria-pressed={table} onClick={() => setTable(!table)}>
                {t('stats.showTable')}
              </button>
            }
          >
            {table ? (
              <div class="table-wrap">
                <table class="table">
                  <caption class="sr-only">{t('stats.title')}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('stats.time')}</th>
                      {(['accepted', ...SERIES] as const).map((k) => (
                        <th scope="col" class="num" key={k}>
                          {t(`stats.${k}` as MessageKey)}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {s.series.map((p) => (
                      <tr key={p.t}>
                        <th scope="row" class="nowrap"><Time iso={p.t} /></th>
                        {(['accepted', ...SERIES] as const).map((k) => (
                          <td class="num" key={k}>
                            {num(p[k])}
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Chart stats={s} />
            )}
          </Section>
        </>
      )}
    </>
  );
}
