// An account page while the operator acts as no account: say how to pick one.
import { t } from '../lib/i18n';
import { href } from '../lib/router';
import { PageHeader } from '../components/ui';

export function NoAccount() {
  return (
    <>
      <PageHeader title={t('noAccount.title')} intro={t('noAccount.intro')} />
      <p>
        <a href={href('accounts')}>{t('noAccount.link')}</a>
      </p>
    </>
  );
}
